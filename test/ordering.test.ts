/** Ordering keys on the real stack: per-key FIFO per endpoint that survives retries, disabling and a worker restart. */
import type { ServerResponse } from 'node:http';
import { orderingWorkflowId } from '../src/starts';
import { startReceiver, type ReceivedRequest, type Receiver } from './helpers/receiver';
import { eventually, startStack, type TestStack } from './helpers/stack';
import { recordHistory } from './helpers/histories';

let stack: TestStack;
const receivers: Receiver[] = [];
const POLICY = { retriesUntilFailure: 1, maxRetries: 3, initialIntervalMs: 100, backoffCoefficient: 1, maxIntervalMs: 100, jitter: 0 };

beforeAll(async () => {
  stack = await startStack({ env: { HOOKFLOW_ORDERING_KEY_IDLE: '2s' } });
});
beforeEach(async () => {
  await stack.useNewTenant();
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await stack?.stop();
});

/** A receiver that records, per message, when its first request came and when it was acknowledged. */
async function orderedReceiver(decide: (body: { data: { key: string; i: number } }, attempt: number) => number) {
  const attempts = new Map<string, number>();
  const acknowledgedAt = new Map<string, number>();
  const firstSeenAt = new Map<string, number>();
  const receiver = await startReceiver((req: ReceivedRequest, _i: number, res: ServerResponse) => {
    const id = req.headers['message-id'] as string;
    const attempt = attempts.get(id) ?? 0;
    attempts.set(id, attempt + 1);
    if (!firstSeenAt.has(id)) firstSeenAt.set(id, performance.now());
    const status = decide(JSON.parse(req.body), attempt);
    if (status < 300 && !acknowledgedAt.has(id)) acknowledgedAt.set(id, performance.now());
    res.writeHead(status);
    res.end();
  });
  receivers.push(receiver);
  return { receiver, acknowledgedAt, firstSeenAt, attempts };
}

async function ok<T = any>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await stack.gql(query, variables);
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data as T;
}
const createEndpoint = async (url: string) =>
  (await ok('mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }', { input: { url, retryPolicy: POLICY } }))
    .createEndpoint.endpoint.id as string;
const send = async (key: string, i: number) =>
  (
    await ok('mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id orderingKey } }', {
      input: { eventType: 'order.changed', payload: { key, i }, orderingKey: key },
    })
  ).sendMessage as { id: string; orderingKey: string };
const statuses = async (id: string) => (await ok('query ($id: ID!) { message(id: $id) { deliveries { status outsideSequence } } }', { id })).message.deliveries;

/** For each key, every message was first posted only after the one before it had been acknowledged. */
function expectKeyOrder(sent: Map<string, string[]>, seen: Awaited<ReturnType<typeof orderedReceiver>>) {
  for (const [key, ids] of sent) {
    for (let i = 1; i < ids.length; i++) {
      const before = seen.acknowledgedAt.get(ids[i - 1]!);
      const next = seen.firstSeenAt.get(ids[i]!);
      expect({ key, i, acknowledgedBefore: before !== undefined && next !== undefined && before <= next }).toEqual({ key, i, acknowledgedBefore: true });
    }
  }
}

test('ten keys of 20 messages sent concurrently, first tries failing at random: each key arrives in send order, one at a time', async () => {
  // A fixed draw of which first tries fail, so that a failure replays.
  const failsFirst = (key: string, i: number) => (key.charCodeAt(key.length - 1) * 31 + i * 17) % 5 === 0;
  const seen = await orderedReceiver((body, attempt) => (attempt === 0 && failsFirst(body.data.key, body.data.i) ? 500 : 202));
  await createEndpoint(seen.receiver.url);
  const sent = new Map<string, string[]>();
  await Promise.all(
    Array.from({ length: 10 }, async (_, k) => {
      const key = `order-${k}`;
      sent.set(key, []);
      for (let i = 0; i < 20; i++) sent.get(key)!.push((await send(key, i)).id);
    }),
  );
  await eventually(async () => (seen.acknowledgedAt.size === 200 ? true : undefined), 120_000, 'all 200 acknowledged');
  expectKeyOrder(sent, seen);
  expect([...seen.attempts.values()].filter((n) => n > 1).length).toBeGreaterThan(10);
}, 180_000);

test('a failing message holds back only its key; another key and unkeyed messages flow', async () => {
  const seen = await orderedReceiver((body) => (body.data?.key === 'blocked' ? 500 : 202));
  await createEndpoint(seen.receiver.url);
  const blocked = [await send('blocked', 0), await send('blocked', 1)];
  const flowing = [await send('flowing', 0), await send('flowing', 1), await send('flowing', 2)];
  await eventually(async () => (flowing.every((m) => seen.acknowledgedAt.has(m.id)) ? true : undefined), 20_000, 'the other key delivered');
  expect(seen.firstSeenAt.has(blocked[1]!.id)).toBe(false);
  expect((await statuses(blocked[1]!.id))[0].status).toBe('WAITING');
  expect(blocked[0]!.orderingKey).toBe('blocked');
  const found = await stack.temporal.workflow.count(`HookflowOrderingKey = 'blocked' AND WorkflowType = 'orderMessages'`);
  expect(found.count).toBeGreaterThanOrEqual(1);
});

test('exhaustion disables the endpoint; after reactivation the key resumes in order from the message that exhausted', async () => {
  let down = true;
  const seen = await orderedReceiver(() => (down ? 503 : 202));
  const endpointId = await createEndpoint(seen.receiver.url);
  const ids = [(await send('k', 0)).id, (await send('k', 1)).id, (await send('k', 2)).id];
  await eventually(
    async () => (await ok('query ($id: ID!) { endpoint(id: $id) { status } }', { id: endpointId })).endpoint.status === 'DISABLED' || undefined,
    15_000,
    'DISABLED',
  );
  expect((await statuses(ids[0]!))[0].status).toBe('PARKED');
  expect((await statuses(ids[1]!))[0].status).toBe('WAITING');
  expect(seen.firstSeenAt.has(ids[1]!)).toBe(false);

  down = false;
  await ok('mutation ($id: ID!) { reactivateEndpoint(id: $id) { status } }', { id: endpointId });
  await eventually(async () => (ids.every((id) => seen.acknowledgedAt.has(id)) ? true : undefined), 60_000, 'all acknowledged');
  expectKeyOrder(new Map([['k', ids]]), seen);
});

test('a worker restarted mid-sequence keeps the order; the idle key then holds no open workflow', async () => {
  const seen = await orderedReceiver(() => 202);
  await createEndpoint(seen.receiver.url);
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push((await send('restart', i)).id);
  await stack.restartWorker();
  for (let i = 6; i < 12; i++) ids.push((await send('restart', i)).id);
  await eventually(async () => (ids.every((id) => seen.acknowledgedAt.has(id)) ? true : undefined), 90_000, 'all acknowledged');
  expectKeyOrder(new Map([['restart', ids]]), seen);
  const { tenantId } = (await stack.mongo.collections.messages.findOne({ _id: ids[0]! }))!;
  const sequence = stack.temporal.workflow.getHandle(orderingWorkflowId(tenantId, 'restart'));
  // HOOKFLOW_ORDERING_KEY_IDLE is 2 s here.
  await eventually(async () => (await sequence.describe()).status.name === 'COMPLETED' || undefined, 15_000, 'the idle sequence to complete').catch(
    async (error) => {
      throw new Error(`${error.message}: ${JSON.stringify(await sequence.query('sequenceState'))}`);
    },
  );
  await recordHistory(stack, sequence.workflowId, 'order-messages');
  await recordHistory(stack, `deliver-${ids[0]}`, 'deliver-message-keyed');
}, 180_000);

test('a resend of a keyed message is posted on its own and says so; one still waiting for its turn is refused; a bad key is refused', async () => {
  const seen = await orderedReceiver((body) => (body.data?.i === 0 ? 500 : 202));
  const endpointId = await createEndpoint(seen.receiver.url);
  const first = await send('resend', 0);
  const second = await send('resend', 1);
  await eventually(async () => (seen.attempts.get(first.id) ?? 0) >= 1 || undefined, 10_000, 'first try');
  const waiting = await stack.gql('mutation ($m: ID!, $e: ID!) { resendMessage(messageId: $m, endpointId: $e) { status } }', { m: second.id, e: endpointId });
  expect(waiting.errors![0]!.extensions!.code).toBe('DELIVERY_WAITING');

  const { tenantId } = (await stack.mongo.collections.messages.findOne({ _id: first.id }))!;
  await ok('mutation ($m: ID!, $e: ID!) { resendMessage(messageId: $m, endpointId: $e) { status } }', { m: first.id, e: endpointId });
  // The endpoint's redelivery takes it over, and posts it at once, although its key's head has not been acknowledged.
  await eventually(async () => (await statuses(first.id))[0].outsideSequence === true || undefined, 10_000, 'outsideSequence');
  expect(tenantId).toBeTruthy();

  for (const orderingKey of ['', 'x'.repeat(257)]) {
    const bad = await stack.gql('mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }', {
      input: { eventType: 'a.b', payload: {}, orderingKey },
    });
    expect(bad.errors![0]!.extensions).toMatchObject({ code: 'INVALID_ORDERING_KEY', field: 'orderingKey' });
  }
});
