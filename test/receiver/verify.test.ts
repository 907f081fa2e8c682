import { Webhook, WebhookVerificationError as LibraryError } from 'standardwebhooks';
import { generateSecret, sign } from '../../src/webhooks/signing';
import { verifyWebhook, WebhookVerificationError, type VerificationFailure } from '../../src/receiver/verify';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const now = Math.floor(NOW / 1000);
const [s1, s2, stranger] = [generateSecret(), generateSecret(), generateSecret()];

type Outcome = { accepted: true; payload: unknown } | { accepted: false; reason: VerificationFailure };

/** The library's verdict for a secret list: it takes one secret, so a list passes if any one does. */
function library(secrets: string[], headers: Record<string, string>, body: string): Outcome {
  let last: Outcome | null = null;
  for (const secret of secrets) {
    try {
      return { accepted: true, payload: new Webhook(secret).verify(body, headers) };
    } catch (error) {
      const text = (error as Error).message;
      const reason: VerificationFailure =
        error instanceof SyntaxError
          ? 'invalid_payload'
          : /Missing required headers|Invalid Signature Headers/.test(text)
            ? 'missing_header'
            : /too old/.test(text)
              ? 'timestamp_too_old'
              : /too new/.test(text)
                ? 'timestamp_in_future'
                : 'bad_signature';
      if (!(error instanceof LibraryError) && !(error instanceof SyntaxError)) throw error;
      // Only the signature check depends on the secret: one that matched and met a body that is not JSON wins.
      if (!last || reason === 'invalid_payload') last = { accepted: false, reason };
    }
  }
  return last!;
}

function ours(secrets: string[], headers: Record<string, string>, body: string): Outcome {
  try {
    const message = verifyWebhook({ headers, body, secrets, now: NOW });
    return { accepted: true, payload: message };
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    return { accepted: false, reason: error.reason };
  }
}

/** Every combination of the variations below: 8,100 requests. */
function* cases() {
  const bodies = [
    '{"id":"msg_1","type":"order.created","timestamp":"2026-01-15T11:59:00.000Z","data":{"orderId":"A-1"}}',
    '',
    'not json',
    '[1,2]',
    '{"type":"x"}',
    '{"a":"é ✓"}',
  ];
  const timestamps = [`${now}`, `${now - 300}`, `${now - 301}`, `${now + 300}`, `${now + 301}`, 'abc', `${now}xyz`, ` ${now}`, '', `${now - 100000}`];
  const ids = ['msg_1', '', 'msg_ü'];
  for (const body of bodies)
    for (const timestamp of timestamps)
      for (const id of ids) {
        const good = (secret: string) => sign(secret, id, parseInt(timestamp, 10) || 0, body);
        const signatures = [
          good(s1),
          good(s2),
          good(stranger),
          `${good(stranger)} ${good(s1)}`,
          `${good(s1)}  ${good(stranger)}`,
          good(s1).replace('v1,', 'v2,'),
          good(s1).replace('v1,', 'v1a,'),
          `${good(s1)},extra`,
          good(s1).replace(/=+$/, ''),
          `${good(s1)}x`,
          'v1',
          'v1,',
          '',
          sign(s1, id, (parseInt(timestamp, 10) || 0) + 1, body),
          sign(s1, id, parseInt(timestamp, 10) || 0, body + ' '),
        ];
        for (const signature of signatures)
          for (const secrets of [[s1], [s2, s1], [stranger]])
            yield { secrets, body, headers: { 'webhook-id': id, 'Webhook-Timestamp': timestamp, 'webhook-signature': signature } };
      }
}

describe('verifyWebhook against the standardwebhooks library', () => {
  beforeEach(() => jest.spyOn(Date, 'now').mockReturnValue(NOW));
  afterEach(() => jest.restoreAllMocks());

  it('accepts and refuses exactly the same requests, for the same reasons, and returns the same payload', () => {
    let accepted = 0;
    let total = 0;
    for (const { secrets, headers, body } of cases()) {
      total += 1;
      const expected = library(secrets, headers, body);
      const actual = ours(secrets, headers, body);
      const where = JSON.stringify({ secrets: secrets.map((s) => [s1, s2, stranger].indexOf(s)), headers, body });
      expect({ where, accepted: actual.accepted }).toEqual({ where, accepted: expected.accepted });
      if (expected.accepted && actual.accepted) {
        accepted += 1;
        const payload = expected.payload as Record<string, unknown> | undefined;
        const message = actual.payload as { id: string; type: string | null; data: unknown };
        expect(message.id).toBe(headers['webhook-id']);
        if (payload && typeof payload === 'object' && !Array.isArray(payload) && 'data' in payload) expect(message.data).toEqual(payload.data);
        if (payload && typeof payload === 'object' && !Array.isArray(payload)) expect(message.type).toBe(payload.type ?? null);
      } else if (!expected.accepted && !actual.accepted) {
        expect({ where, reason: actual.reason }).toEqual({ where, reason: expected.reason });
      }
    }
    // Both outcomes are well represented, so the comparison means something.
    expect(total).toBe(8100);
    expect(accepted).toBeGreaterThan(100);
    expect(total - accepted).toBeGreaterThan(1000);
  });

  it('reads the Hookflow sender headers with rotation signatures, and returns the message', () => {
    const body = JSON.stringify({ id: 'msg_9', type: 'order.paid', timestamp: '2026-01-15T11:00:00.000Z', data: { orderId: 'B-2' } });
    const headers = {
      'webhook-id': 'msg_9',
      'webhook-timestamp': String(now),
      'webhook-signature': `${sign(s2, 'msg_9', now, body)} ${sign(s1, 'msg_9', now, body)}`,
    };
    expect(verifyWebhook({ headers, body: Buffer.from(body), secrets: [s1], now: NOW })).toEqual({
      id: 'msg_9',
      type: 'order.paid',
      timestamp: '2026-01-15T11:00:00.000Z',
      data: { orderId: 'B-2' },
    });
    const fetchHeaders = new Headers(headers);
    expect(verifyWebhook({ headers: fetchHeaders, body, secrets: s2, now: NOW }).id).toBe('msg_9');
  });

  it('applies a tolerance other than the default', () => {
    const body = '{}';
    const headers = { 'webhook-id': 'm', 'webhook-timestamp': String(now - 61), 'webhook-signature': sign(s1, 'm', now - 61, body) };
    expect(() => verifyWebhook({ headers, body, secrets: [s1], toleranceSeconds: 60, now: NOW })).toThrow(
      expect.objectContaining({ reason: 'timestamp_too_old' }),
    );
    expect(verifyWebhook({ headers, body, secrets: [s1], toleranceSeconds: 61, now: NOW }).id).toBe('m');
  });
});
