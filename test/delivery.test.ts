import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { answer, startReceiver, type Receiver } from './helpers/receiver';
import { eventually, startStack, type TestStack } from './helpers/stack';
import { recordHistory } from './helpers/histories';

const CREATE_ENDPOINT = `
  mutation ($input: CreateEndpointInput!) {
    createEndpoint(input: $input) { secret endpoint { id url eventTypes status retryPolicy { retriesUntilFailure maxRetries initialIntervalMs } } }
  }`;
const SEND = `
  mutation ($input: SendMessageInput!) {
    sendMessage(input: $input) { id eventType payload occurredAt createdAt workflowId }
  }`;
const MESSAGE = `
  query ($id: ID!) {
    message(id: $id) {
      id
      deliveries { status workflowId endpoint { id } attempts { number statusCode succeeded error durationMs responseBody startedAt } }
    }
  }`;

/** Retries in milliseconds, so a test sees several attempts within a second. */
const fastRetries = (maxRetries: number) => ({
  maxRetries,
  retriesUntilFailure: Math.min(1, maxRetries),
  initialIntervalMs: 20,
  backoffCoefficient: 1,
  maxIntervalMs: 50,
  jitter: 0,
});

let stack: TestStack;
const receivers: Receiver[] = [];

beforeAll(async () => {
  stack = await startStack();
});
beforeEach(async () => {
  await stack.useNewTenant();
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await stack?.stop();
});

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

async function createEndpoint(input: Record<string, unknown>) {
  const result = await stack.gql(CREATE_ENDPOINT, { input });
  expect(result.errors).toBeUndefined();
  return result.data.createEndpoint as { secret: string; endpoint: { id: string; url: string; eventTypes: string[]; status: string } };
}

async function send(input: Record<string, unknown>) {
  const result = await stack.gql(SEND, { input });
  expect(result.errors).toBeUndefined();
  return result.data.sendMessage as { id: string; workflowId: string; occurredAt: string; createdAt: string };
}

async function message(id: string) {
  const result = await stack.gql(MESSAGE, { id });
  expect(result.errors).toBeUndefined();
  return result.data.message as {
    deliveries: {
      status: string;
      workflowId: string;
      endpoint: { id: string };
      attempts: { number: number; statusCode: number | null; succeeded: boolean; error: string | null }[];
    }[];
  };
}

/** Waits until every delivery of a message has left PENDING. */
const settled = (id: string) =>
  eventually(
    async () => {
      const m = await message(id);
      return m.deliveries.every((d) => d.status !== 'PENDING') ? m : undefined;
    },
    20_000,
    `message ${id} to settle`,
  );

test('a message arrives signed, the official verifiers accept it, and its attempt is recorded', async () => {
  const r = await receiver();
  const { secret, endpoint } = await createEndpoint({ url: r.url, eventTypes: ['order.created'], description: 'orders' });
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
  expect(Buffer.from(secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);

  const occurredAt = '2026-01-02T03:04:05.000Z';
  const sent = await send({ eventType: 'order.created', payload: { orderId: 'o-1', total: 12.5 }, occurredAt });
  expect(sent.workflowId).toBe(`deliver-${sent.id}`);
  await r.waitFor(1);

  const [request] = r.requests;
  expect(request!.method).toBe('POST');
  expect(request!.headers['content-type']).toBe('application/json');
  expect(request!.headers['message-id']).toBe(sent.id);
  expect(request!.headers['webhook-id']).toBe(sent.id);
  expect(Math.abs(Number(request!.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
  expect(JSON.parse(request!.body)).toEqual({ id: sent.id, type: 'order.created', timestamp: occurredAt, data: { orderId: 'o-1', total: 12.5 } });

  const headers = {
    'webhook-id': String(request!.headers['webhook-id']),
    'webhook-timestamp': String(request!.headers['webhook-timestamp']),
    'webhook-signature': String(request!.headers['webhook-signature']),
  };
  expect(new StandardWebhook(secret).verify(request!.body, headers)).toEqual(JSON.parse(request!.body));
  expect(new SvixWebhook(secret).verify(request!.body, headers)).toEqual(JSON.parse(request!.body));
  // A tampered body must not verify: the signature really covers it.
  expect(() => new StandardWebhook(secret).verify(request!.body.replace('o-1', 'o-2'), headers)).toThrow();

  const m = await settled(sent.id);
  expect(m.deliveries).toHaveLength(1);
  expect(m.deliveries[0]).toMatchObject({ status: 'SUCCEEDED', workflowId: sent.workflowId, endpoint: { id: endpoint.id } });
  expect(m.deliveries[0]!.attempts).toEqual([expect.objectContaining({ number: 0, statusCode: 202, succeeded: true, error: null, responseBody: 'accepted' })]);
  const stored = await stack.mongo.collections.attempts.find({ messageId: sent.id }).toArray();
  expect(stored).toHaveLength(1);
});

test('failed attempts are retried under the endpoint policy until acknowledged, each one recorded', async () => {
  const r = await receiver((_req, index, res) => answer(index < 2 ? 500 : 202, index < 2 ? 'boom' : 'ok')(_req, index, res));
  const { endpoint } = await createEndpoint({ url: r.url, retryPolicy: fastRetries(5) });
  const sent = await send({ eventType: 'invoice.paid', payload: { n: 1 } });

  const m = await eventually(async () => {
    const current = await message(sent.id);
    return current.deliveries[0]?.status === 'SUCCEEDED' ? current : undefined;
  });
  expect(m.deliveries[0]!.endpoint.id).toBe(endpoint.id);
  expect(m.deliveries[0]!.attempts.map((a) => [a.number, a.statusCode, a.succeeded, a.error])).toEqual([
    [0, 500, false, 'HTTP 500'],
    [1, 500, false, 'HTTP 500'],
    [2, 202, true, null],
  ]);
  expect(r.requests.map((q) => q.headers['message-id'])).toEqual([sent.id, sent.id, sent.id]);
  await recordHistory(stack, sent.workflowId, 'deliver-message-retries-then-success');
});

test('a delivery never acknowledged exhausts maxRetries, is kept PARKED and disables its endpoint; each failure has its reason', async () => {
  const closed = await receiver();
  await closed.close();
  const { endpoint } = await createEndpoint({ url: closed.url, retryPolicy: fastRetries(2) });
  const sent = await send({ eventType: 'invoice.paid', payload: {} });
  const m = await eventually(async () => {
    const current = await message(sent.id);
    return current.deliveries[0]?.status === 'PARKED' ? current : undefined;
  });
  expect(m.deliveries[0]!.endpoint.id).toBe(endpoint.id);
  const status = await eventually(async () => {
    const result = await stack.gql('query ($id: ID!) { endpoint(id: $id) { status } }', { id: endpoint.id });
    return result.data.endpoint.status === 'DISABLED' ? 'DISABLED' : undefined;
  });
  expect(status).toBe('DISABLED');
  expect(m.deliveries[0]!.attempts).toHaveLength(3);
  for (const attempt of m.deliveries[0]!.attempts) {
    expect(attempt).toMatchObject({ statusCode: null, succeeded: false });
    expect(attempt.error).toMatch(/^connection refused/);
  }
  await recordHistory(stack, sent.workflowId, 'deliver-message-exhausted');
});

test('the same idempotency key returns the first message and delivers once, even when sent concurrently', async () => {
  const r = await receiver();
  await createEndpoint({ url: r.url, eventTypes: ['cart.updated'] });
  const input = { eventType: 'cart.updated', payload: { cart: 7 }, idempotencyKey: 'cart-7-v1' };
  const results = await Promise.all(Array.from({ length: 10 }, () => stack.gql(SEND, { input })));
  for (const result of results) expect(result.errors).toBeUndefined();
  const ids = new Set(results.map((result) => result.data.sendMessage.id));
  expect(ids.size).toBe(1);

  const again = await send({ ...input, payload: { cart: 'changed' } });
  expect(again.id).toBe([...ids][0]);
  await r.waitFor(1);
  await settled(again.id);
  // Give a wrongly started second delivery time to show up before counting.
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(r.requests).toHaveLength(1);
  expect(JSON.parse(r.requests[0]!.body).data).toEqual({ cart: 7 });
  expect(await stack.mongo.collections.messages.countDocuments({ idempotencyKey: 'cart-7-v1' })).toBe(1);
});

test('event types filter endpoints; an endpoint without event types receives everything', async () => {
  const [orders, payments, all] = [await receiver(), await receiver(), await receiver()];
  await createEndpoint({ url: orders.url, eventTypes: ['shipment.created'] });
  await createEndpoint({ url: payments.url, eventTypes: ['refund.created'] });
  await createEndpoint({ url: all.url });
  const sent = await send({ eventType: 'shipment.created', payload: { s: 1 } });
  await orders.waitFor(1);
  await all.waitFor(1);
  const m = await settled(sent.id);
  expect(m.deliveries.every((d) => d.status === 'SUCCEEDED')).toBe(true);
  expect(payments.requests.filter((q) => q.headers['message-id'] === sent.id)).toHaveLength(0);
  expect(orders.requests.filter((q) => q.headers['message-id'] === sent.id)).toHaveLength(1);
});

test('fan-out reaches every endpoint concurrently: a slow endpoint does not hold the others', async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const slow = await receiver(async (_req, _i, res) => {
    await held;
    res.writeHead(202).end();
  });
  const fast = await Promise.all(Array.from({ length: 4 }, () => receiver()));
  for (const r of [slow, ...fast]) await createEndpoint({ url: r.url, eventTypes: ['stock.changed'] });

  const sent = await send({ eventType: 'stock.changed', payload: { sku: 'A' } });
  // Every fast endpoint is served while the slow one still holds its request open.
  await Promise.all(fast.map((r) => r.waitFor(1)));
  await slow.waitFor(1);
  const during = await eventually(async () => {
    const current = await message(sent.id);
    return current.deliveries.filter((d) => d.status === 'SUCCEEDED').length === 4 ? current : undefined;
  });
  expect(during.deliveries.filter((d) => d.status === 'PENDING')).toHaveLength(1);
  expect(slow.requests).toHaveLength(1);
  release();
  const m = await settled(sent.id);
  expect(m.deliveries.map((d) => d.status)).toEqual(Array(5).fill('SUCCEEDED'));
  await recordHistory(stack, sent.workflowId, 'deliver-message-fan-out');
});

test('the delivery workflow is findable in Temporal by its search attributes', async () => {
  const r = await receiver();
  const { endpoint } = await createEndpoint({ url: r.url, eventTypes: ['sa.check'] });
  const sent = await send({ eventType: 'sa.check', payload: {} });
  await settled(sent.id);
  const found = await eventually(
    async () => {
      const ids: string[] = [];
      for await (const wf of stack.temporal.workflow.list({ query: `HookflowEndpointIds = "${endpoint.id}" AND HookflowEventType = "sa.check"` })) {
        ids.push(wf.workflowId);
      }
      return ids.length > 0 ? ids : undefined;
    },
    20_000,
    'visibility',
  );
  expect(found).toEqual([sent.workflowId]);
  await stack.temporal.workflow.getHandle(sent.workflowId).result();
  const description = await stack.temporal.workflow.getHandle(sent.workflowId).describe();
  expect(description.typedSearchAttributes.get({ name: 'HookflowStatus', type: 'KEYWORD' } as any)).toBe('SUCCEEDED');
});
