import { Webhook } from 'standardwebhooks';
import { buildWebhookRequest, generateSecret, sign } from '../../src/webhooks/signing';

test('a generated secret is whsec_ + base64 of the requested number of random bytes', () => {
  const secret = generateSecret();
  expect(secret).toMatch(/^whsec_/);
  expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
  expect(generateSecret()).not.toBe(secret);
  expect(() => generateSecret(16)).toThrow(RangeError);
});

test('the signature matches the Standard Webhooks reference vector', () => {
  // The example of the Standard Webhooks specification (and of the svix libraries' tests).
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const body = '{"test": 2432232314}';
  expect(sign(secret, id, 1614265330, body)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
});

test('a built request verifies with the standardwebhooks package and carries the message id twice', () => {
  const secret = generateSecret();
  const request = buildWebhookRequest({
    secrets: [secret],
    messageId: 'msg_1',
    eventType: 'order.created',
    occurredAt: new Date('2026-03-04T05:06:07.000Z'),
    payload: { a: [1, 2] },
    now: new Date(),
  });
  expect(request.headers['message-id']).toBe('msg_1');
  expect(new Webhook(secret).verify(request.body, request.headers)).toEqual({
    id: 'msg_1',
    type: 'order.created',
    timestamp: '2026-03-04T05:06:07.000Z',
    data: { a: [1, 2] },
  });
  expect(() => new Webhook(generateSecret()).verify(request.body, request.headers)).toThrow();
});

test('during a rotation both secrets sign, space-separated, and a receiver with either one verifies', () => {
  const [oldSecret, newSecret] = [generateSecret(), generateSecret()];
  const request = buildWebhookRequest({
    secrets: [newSecret, oldSecret],
    messageId: 'msg_2',
    eventType: 'a.b',
    occurredAt: new Date(),
    payload: {},
    now: new Date(),
  });
  expect(request.headers['webhook-signature']!.split(' ')).toHaveLength(2);
  for (const secret of [oldSecret, newSecret]) expect(() => new Webhook(secret).verify(request.body, request.headers)).not.toThrow();
  expect(() => new Webhook(generateSecret()).verify(request.body, request.headers)).toThrow();
});
