import { Webhook } from 'standardwebhooks';
import { generateSecret } from '../src/webhooks/signing';
import { answer, startReceiver, type Receiver } from './helpers/receiver';
import { startSmtpServer, type SmtpCapture } from './helpers/smtp';
import { eventually, startStack, type TestStack } from './helpers/stack';
import { recordHistory } from './helpers/histories';

const ENDPOINT_FIELDS = 'id url status failingSince disabledAt events { kind at reason messageId attempts error }';
const CREATE = `mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { ${ENDPOINT_FIELDS} } } }`;
const ENDPOINT = `query ($id: ID!) { endpoint(id: $id) { ${ENDPOINT_FIELDS} } }`;
const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id workflowId } }`;
const MESSAGE = `query ($id: ID!) { message(id: $id) { id deliveries { status workflowId attempts { number statusCode succeeded error } } } }`;

interface EndpointView {
  id: string;
  url: string;
  status: string;
  failingSince: string | null;
  disabledAt: string | null;
  events: { kind: string; at: string; reason: string; messageId: string | null; attempts: number | null; error: string | null }[];
}

const EMAILS = ['ops@example.com', 'dev@example.com'];
const PHONES = ['+33612345678'];
const SMS_SID = 'AC0123456789abcdef';
const SMS_TOKEN = 'sms-token-for-tests';
const OPS_SECRET = generateSecret();

let stack: TestStack;
let smtp: SmtpCapture;
let twilio: Receiver;
let ops: Receiver;
const receivers: Receiver[] = [];

beforeAll(async () => {
  smtp = await startSmtpServer();
  twilio = await startReceiver(answer(201, '{"sid":"SM1","status":"queued"}', { 'content-type': 'application/json' }));
  ops = await startReceiver();
  stack = await startStack({
    env: {
      SMTP_URL: smtp.url,
      NOTIFY_EMAIL_FROM: 'Hookflow <alerts@hookflow.test>',
      SMS_API_URL: `http://127.0.0.1:${twilio.port}`,
      SMS_ACCOUNT_SID: SMS_SID,
      SMS_AUTH_TOKEN: SMS_TOKEN,
      SMS_FROM: '+15005550006',
      HOOKFLOW_OPS_WEBHOOK_URL: ops.url,
      HOOKFLOW_OPS_WEBHOOK_SECRET: OPS_SECRET,
    },
  });
});
beforeEach(async () => {
  await stack.useNewTenant();
});
afterAll(async () => {
  await Promise.all([...receivers, twilio, ops].map((r) => r?.close()));
  await smtp?.stop();
  await stack?.stop();
});

async function receiver(...args: Parameters<typeof startReceiver>) {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

/** Retries every few milliseconds, so that a lifecycle plays out in a second or two. */
const fast = (retriesUntilFailure: number, maxRetries: number, intervalMs = 30) => ({
  retriesUntilFailure,
  maxRetries,
  initialIntervalMs: intervalMs,
  backoffCoefficient: 1,
  maxIntervalMs: intervalMs,
  jitter: 0,
});

async function createEndpoint(input: Record<string, unknown>): Promise<EndpointView> {
  const result = await stack.gql(CREATE, { input: { notifyEmails: EMAILS, notifyPhones: PHONES, ...input } });
  expect(result.errors).toBeUndefined();
  return result.data.createEndpoint.endpoint;
}
async function endpoint(id: string): Promise<EndpointView> {
  const result = await stack.gql(ENDPOINT, { id });
  expect(result.errors).toBeUndefined();
  return result.data.endpoint;
}
const endpointWith = (id: string, predicate: (e: EndpointView) => boolean, what: string) =>
  eventually(
    async () => {
      const e = await endpoint(id);
      return predicate(e) ? e : undefined;
    },
    20_000,
    what,
  );

async function send(input: Record<string, unknown>): Promise<{ id: string; workflowId: string }> {
  const result = await stack.gql(SEND, { input });
  expect(result.errors).toBeUndefined();
  return result.data.sendMessage;
}
async function deliveryStatus(messageId: string): Promise<string> {
  const result = await stack.gql(MESSAGE, { id: messageId });
  return result.data.message.deliveries[0].status;
}
const mailsAbout = (endpointId: string) => smtp.mails.filter((m) => m.text?.includes(endpointId));
const smsAbout = (endpointId: string) => twilio.requests.filter((r) => new URLSearchParams(r.body).get('Body')?.includes(endpointId));
const opsAbout = (endpointId: string) => ops.requests.filter((r) => JSON.parse(r.body).data.endpointId === endpointId);

test('failure then recovery: FAILING with on_failure, then ACTIVE with on_failure_recovered, each told by email, SMS and operator webhook', async () => {
  let healthy = false;
  const r = await receiver((req, i, res) => (healthy ? answer(202)(req, i, res) : answer(500, 'database down')(req, i, res)));
  const created = await createEndpoint({ url: r.url, retryPolicy: fast(2, 100) });
  const sent = await send({ eventType: 'order.created', payload: { order: 1 } });

  const failing = await endpointWith(created.id, (e) => e.status === 'FAILING', 'FAILING');
  expect(failing.failingSince).not.toBeNull();
  expect(failing.events).toEqual([expect.objectContaining({ kind: 'ON_FAILURE', messageId: sent.id, attempts: 3, error: 'HTTP 500' })]);
  healthy = true;
  const recovered = await endpointWith(created.id, (e) => e.status === 'ACTIVE', 'ACTIVE again');
  expect(recovered.failingSince).toBeNull();
  expect(recovered.events.map((e) => [e.kind, e.messageId])).toEqual([
    ['ON_FAILURE', sent.id],
    ['ON_FAILURE_RECOVERED', sent.id],
  ]);
  expect(recovered.events[1]!.reason).toMatch(/retry count reset to 0/);
  expect(await deliveryStatus(sent.id)).toBe('SUCCEEDED');

  // Email: one per event, to every contact, naming endpoint, event, message, attempts and last error.
  await eventually(async () => (mailsAbout(created.id).length >= 2 ? true : undefined), 20_000, 'two emails');
  const [failMail, recoverMail] = mailsAbout(created.id);
  expect(failMail!.from!.text).toBe('"Hookflow" <alerts@hookflow.test>');
  expect((Array.isArray(failMail!.to) ? failMail!.to[0] : failMail!.to)!.value.map((a) => a.address)).toEqual(EMAILS);
  expect(failMail!.subject).toBe(`[Hookflow] Endpoint ${r.url} is failing (on_failure)`);
  expect(failMail!.text).toContain(`Endpoint ${created.id} (${r.url}) is failing (on_failure).`);
  expect(failMail!.text).toContain(`Message: ${sent.id}, after 3 attempt(s).`);
  expect(failMail!.text).toContain('Last error: HTTP 500');
  expect(recoverMail!.subject).toContain('has recovered (on_failure_recovered)');

  // SMS: Twilio's Messages API, form-encoded, basic auth, one per event and phone.
  await eventually(async () => (smsAbout(created.id).length >= 2 ? true : undefined), 20_000, 'two SMS');
  const [failSms, recoverSms] = smsAbout(created.id);
  expect(failSms!.path).toBe(`/2010-04-01/Accounts/${SMS_SID}/Messages.json`);
  expect(failSms!.headers.authorization).toBe(`Basic ${Buffer.from(`${SMS_SID}:${SMS_TOKEN}`).toString('base64')}`);
  const form = new URLSearchParams(failSms!.body);
  expect(form.get('To')).toBe(PHONES[0]);
  expect(form.get('From')).toBe('+15005550006');
  expect(form.get('Body')).toBe(`Hookflow: endpoint ${created.id} is failing (on_failure). Message ${sent.id}, 3 attempts. Last error: HTTP 500.`);
  expect(new URLSearchParams(recoverSms!.body).get('Body')).toContain('has recovered');

  // Operator webhook: signed like any webhook, typed endpoint.failing then endpoint.recovered.
  await eventually(async () => (opsAbout(created.id).length >= 2 ? true : undefined), 20_000, 'two operator webhooks');
  const types = opsAbout(created.id).map((request) => {
    const headers = {
      'webhook-id': String(request.headers['webhook-id']),
      'webhook-timestamp': String(request.headers['webhook-timestamp']),
      'webhook-signature': String(request.headers['webhook-signature']),
    };
    const body = new Webhook(OPS_SECRET).verify(request.body, headers) as { type: string; data: { messageId: string } };
    expect(body.data.messageId).toBe(sent.id);
    return body.type;
  });
  expect(types).toEqual(['endpoint.failing', 'endpoint.recovered']);
});

test('failure through deactivation: later messages are PARKED, nothing is posted, and reactivation delivers them all in event order', async () => {
  let healthy = false;
  const r = await receiver((req, i, res) => (healthy ? answer(202)(req, i, res) : answer(500)(req, i, res)));
  const created = await createEndpoint({ url: r.url, retryPolicy: fast(1, 2) });
  const base = Date.parse('2026-05-01T10:00:00Z');
  const at = (seconds: number) => new Date(base + seconds * 1000).toISOString();

  const first = await send({ eventType: 'stock.changed', payload: { n: 3 }, occurredAt: at(3) });
  const disabled = await endpointWith(created.id, (e) => e.status === 'DISABLED', 'DISABLED');
  expect(disabled.disabledAt).not.toBeNull();
  expect(disabled.events.map((e) => e.kind)).toEqual(['ON_FAILURE', 'ON_DEACTIVATION']);
  expect(disabled.events[1]).toMatchObject({ messageId: first.id, attempts: 3, reason: 'retries exhausted', error: 'HTTP 500' });
  await eventually(async () => (await deliveryStatus(first.id)) === 'PARKED' || undefined, 10_000, 'first PARKED');
  expect(r.requests).toHaveLength(3);

  const second = await send({ eventType: 'stock.changed', payload: { n: 1 }, occurredAt: at(1) });
  const third = await send({ eventType: 'stock.changed', payload: { n: 2 }, occurredAt: at(2) });
  for (const m of [second, third]) await eventually(async () => (await deliveryStatus(m.id)) === 'PARKED' || undefined, 10_000, 'PARKED');
  expect(r.requests).toHaveLength(3);

  const mail = await eventually(async () => mailsAbout(created.id).find((m) => m.subject?.includes('on_deactivation')), 20_000, 'deactivation email');
  expect(mail.text).toContain(`To reactivate it and deliver the parked messages in order: mutation { reactivateEndpoint(id: "${created.id}") { status } }`);
  expect(mail.text).toContain('new messages are parked, not lost');

  healthy = true;
  const reactivated = await stack.gql(`mutation ($id: ID!) { reactivateEndpoint(id: $id) { status disabledAt } }`, { id: created.id });
  expect(reactivated.errors).toBeUndefined();
  expect(reactivated.data.reactivateEndpoint).toEqual({ status: 'ACTIVE', disabledAt: null });

  await r.waitFor(6);
  expect(r.requests.slice(3).map((q) => JSON.parse(q.body).data.n)).toEqual([1, 2, 3]);
  for (const m of [first, second, third]) {
    await eventually(async () => (await deliveryStatus(m.id)) === 'SUCCEEDED' || undefined, 10_000, 'SUCCEEDED');
  }
  const after = await endpoint(created.id);
  expect(after.events.map((e) => e.kind)).toEqual(['ON_FAILURE', 'ON_DEACTIVATION', 'REACTIVATED']);
  // The first message's attempts go on after its three failed ones: the log keeps both runs.
  const history = await stack.gql(MESSAGE, { id: first.id });
  expect(history.data.message.deliveries[0].attempts.map((a: { statusCode: number }) => a.statusCode)).toEqual([500, 500, 500, 202]);
  await recordHistory(stack, `endpoint-${created.id}`, 'endpoint-lifecycle-deactivation-reactivation', { endWith: 'endpointDeleted' });
  await recordHistory(stack, history.data.message.deliveries[0].workflowId, 'redeliver-parked-in-order');
});

test('410 Gone disables the endpoint at once, after a single attempt', async () => {
  const r = await receiver(answer(410, 'gone for good'));
  const created = await createEndpoint({ url: r.url, retryPolicy: fast(3, 8) });
  const sent = await send({ eventType: 'a.b', payload: {} });
  const disabled = await endpointWith(created.id, (e) => e.status === 'DISABLED', 'DISABLED');
  expect(disabled.events).toEqual([
    expect.objectContaining({ kind: 'ON_DEACTIVATION', reason: 'the endpoint answered 410 Gone', attempts: 1, error: 'HTTP 410' }),
  ]);
  await eventually(async () => (await deliveryStatus(sent.id)) === 'PARKED' || undefined, 10_000, 'PARKED');
  expect(r.requests).toHaveLength(1);
});

test('Retry-After on 429 and 503 can only lengthen the next delay, up to the policy maximum; elsewhere it is ignored', async () => {
  const policy = { retriesUntilFailure: 5, maxRetries: 5, initialIntervalMs: 500, backoffCoefficient: 1, maxIntervalMs: 3_000, jitter: 0 };
  const answers = [
    answer(429, 'slow down', { 'retry-after': '2' }),
    answer(503, 'proxy', { 'retry-after': '0' }),
    answer(500, 'oops', { 'retry-after': '3600' }),
    answer(503, 'maintenance', { 'retry-after': '3600' }),
    answer(202),
  ];
  const r = await receiver((req, i, res) => answers[Math.min(i, answers.length - 1)]!(req, i, res));
  await createEndpoint({ url: r.url, retryPolicy: policy });
  const sent = await send({ eventType: 'a.b', payload: {} });
  await r.waitFor(5, 30_000);
  const gaps = r.requests.slice(1).map((q, i) => q.receivedAt - r.requests[i]!.receivedAt);
  // 2 s asked for on 429: longer than the schedule's 0.5 s, so it is kept.
  expect(gaps[0]).toBeGreaterThanOrEqual(1_950);
  // Retry-After: 0 on 503 does not shorten the schedule's 0.5 s (defect 9).
  expect(gaps[1]).toBeGreaterThanOrEqual(450);
  expect(gaps[1]).toBeLessThan(1_900);
  // On a 500 the header is ignored: the schedule's 0.5 s, not an hour.
  expect(gaps[2]).toBeGreaterThanOrEqual(450);
  expect(gaps[2]).toBeLessThan(1_900);
  // An hour asked for on 503, bounded by maxIntervalMs (3 s).
  expect(gaps[3]).toBeGreaterThanOrEqual(2_950);
  expect(gaps[3]).toBeLessThan(10_000);
  await eventually(async () => (await deliveryStatus(sent.id)) === 'SUCCEEDED' || undefined, 10_000, 'SUCCEEDED');
  const history = await stack.gql(MESSAGE, { id: sent.id });
  expect(history.data.message.deliveries[0].attempts.map((x: { statusCode: number }) => x.statusCode)).toEqual([429, 503, 500, 503, 202]);
});

test('a notification channel that is down delays only itself: the others go out, and its mail arrives once it is back', async () => {
  await smtp.stop();
  try {
    const r = await receiver(answer(410));
    const created = await createEndpoint({ url: r.url, retryPolicy: fast(3, 8) });
    await send({ eventType: 'a.b', payload: {} });
    await endpointWith(created.id, (e) => e.status === 'DISABLED', 'DISABLED while SMTP is down');
    await eventually(async () => (smsAbout(created.id).length === 1 && opsAbout(created.id).length === 1) || undefined, 20_000, 'SMS and operator webhook');
    expect(mailsAbout(created.id)).toHaveLength(0);
    await smtp.restart();
    await eventually(async () => mailsAbout(created.id).length === 1 || undefined, 30_000, 'the email after SMTP is back');
    // One email per event, not one per retry.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(mailsAbout(created.id)).toHaveLength(1);
  } finally {
    if (!smtp.url) await smtp.restart();
  }
});

test('two messages failing at once: one on_failure each, and ACTIVE only when both have recovered', async () => {
  const healthyFor = new Set<string>();
  const r = await receiver((req, i, res) => {
    const id = String(req.headers['message-id']);
    return healthyFor.has(id) ? answer(202)(req, i, res) : answer(503)(req, i, res);
  });
  const created = await createEndpoint({ url: r.url, retryPolicy: fast(1, 100, 40) });
  const [m1, m2] = [await send({ eventType: 'a.b', payload: { m: 1 } }), await send({ eventType: 'a.b', payload: { m: 2 } })];
  const failing = await endpointWith(created.id, (e) => e.events.filter((x) => x.kind === 'ON_FAILURE').length === 2, 'two on_failure');
  expect(failing.status).toBe('FAILING');
  expect(new Set(failing.events.map((e) => e.messageId))).toEqual(new Set([m1.id, m2.id]));

  healthyFor.add(m1.id);
  const half = await endpointWith(created.id, (e) => e.events.some((x) => x.kind === 'ON_FAILURE_RECOVERED'), 'first recovery');
  expect(half.status).toBe('FAILING');
  healthyFor.add(m2.id);
  const whole = await endpointWith(created.id, (e) => e.status === 'ACTIVE', 'ACTIVE');
  expect(whole.events.map((e) => [e.kind, e.messageId])).toEqual([
    ['ON_FAILURE', expect.any(String)],
    ['ON_FAILURE', expect.any(String)],
    ['ON_FAILURE_RECOVERED', m1.id],
    ['ON_FAILURE_RECOVERED', m2.id],
  ]);
});

test('disableEndpoint parks by hand; reactivating an endpoint that is not disabled is a clear error', async () => {
  const r = await receiver();
  const created = await createEndpoint({ url: r.url });
  const notDisabled = await stack.gql(`mutation ($id: ID!) { reactivateEndpoint(id: $id) { status } }`, { id: created.id });
  expect(notDisabled.errors![0]!.extensions!.code).toBe('ENDPOINT_NOT_DISABLED');
  expect(notDisabled.errors![0]!.message).toBe(`endpoint "${created.id}" is ACTIVE, not DISABLED: only a disabled endpoint can be reactivated`);

  const disabled = await stack.gql(`mutation ($id: ID!) { disableEndpoint(id: $id) { status events { kind reason } } }`, { id: created.id });
  expect(disabled.data.disableEndpoint).toEqual({ status: 'DISABLED', events: [{ kind: 'ON_DEACTIVATION', reason: 'disabled by hand (disableEndpoint)' }] });
  const again = await stack.gql(`mutation ($id: ID!) { disableEndpoint(id: $id) { status } }`, { id: created.id });
  expect(again.errors![0]!.extensions!.code).toBe('ENDPOINT_ALREADY_DISABLED');

  const sent = await send({ eventType: 'a.b', payload: {} });
  await eventually(async () => (await deliveryStatus(sent.id)) === 'PARKED' || undefined, 10_000, 'PARKED');
  expect(r.requests).toHaveLength(0);
  await stack.gql(`mutation ($id: ID!) { reactivateEndpoint(id: $id) { status } }`, { id: created.id });
  await r.waitFor(1);
  expect(r.requests[0]!.headers['message-id']).toBe(sent.id);
});

test('deleteEndpoint cancels a delivery that was waiting to retry, and stops its workflow at once', async () => {
  const r = await receiver(answer(500));
  const created = await createEndpoint({ url: r.url, retryPolicy: { initialIntervalMs: 600_000, maxIntervalMs: 600_000 } });
  const sent = await send({ eventType: 'a.b', payload: {} });
  await r.waitFor(1);
  await eventually(
    async () => (await stack.gql(MESSAGE, { id: sent.id })).data.message.deliveries[0].attempts.length === 1 || undefined,
    10_000,
    'first attempt recorded',
  );
  const deleted = await stack.gql(`mutation ($id: ID!) { deleteEndpoint(id: $id) { id } }`, { id: created.id });
  expect(deleted.errors).toBeUndefined();
  const result = await stack.temporal.workflow.getHandle(sent.workflowId).result();
  expect(result.deliveries).toEqual([{ endpointId: created.id, status: 'CANCELLED', attempts: 1 }]);
  expect(await deliveryStatus(sent.id)).toBe('CANCELLED');
  expect((await stack.gql(ENDPOINT, { id: created.id })).errors![0]!.extensions!.code).toBe('NOT_FOUND');
  expect(r.requests).toHaveLength(1);
});

test('updateEndpoint moves the next retry to the new URL and refuses bad input', async () => {
  const broken = await receiver(answer(500));
  const fixed = await receiver();
  const created = await createEndpoint({ url: broken.url, retryPolicy: fast(5, 50, 300) });
  const sent = await send({ eventType: 'a.b', payload: {} });
  await broken.waitFor(1);
  const bad = await stack.gql(`mutation ($id: ID!, $input: UpdateEndpointInput!) { updateEndpoint(id: $id, input: $input) { url } }`, {
    id: created.id,
    input: { url: 'not a url' },
  });
  expect(bad.errors![0]!.extensions!.code).toBe('INVALID_URL');
  const updated = await stack.gql(
    `mutation ($id: ID!, $input: UpdateEndpointInput!) { updateEndpoint(id: $id, input: $input) { url retryPolicy { maxRetries initialIntervalMs } notifyEmails } }`,
    { id: created.id, input: { url: fixed.url, retryPolicy: { maxRetries: 9 } } },
  );
  expect(updated.data.updateEndpoint).toEqual({ url: fixed.url, retryPolicy: { maxRetries: 9, initialIntervalMs: 300 }, notifyEmails: EMAILS });
  await fixed.waitFor(1);
  expect(fixed.requests[0]!.headers['message-id']).toBe(sent.id);
  await eventually(async () => (await deliveryStatus(sent.id)) === 'SUCCEEDED' || undefined, 10_000, 'SUCCEEDED');
});
