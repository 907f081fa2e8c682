import { spawn } from 'node:child_process';
import { request } from 'node:http';
import path from 'node:path';
import { createServices, startApiServer, type RunningApi } from '../src/app';
import { liveConfigOf, loadConfig, urlPolicyOf } from '../src/config';
import { encodeLiveCursor } from '../src/live/hub';
import { answer, startReceiver, type Receiver } from './helpers/receiver';
import { eventually, startStack, testEnv, type TestStack } from './helpers/stack';
import pino from 'pino';
import { subscribe, TRANSPORTS, type LiveStream, type Transport } from './helpers/live';

/** Live subscriptions against the real stack, over both transports (README, "Live events"). */

const DELIVERY_FIELDS = 'cursor at status message { id eventType } endpoint { id } attempt { number statusCode succeeded }';
const DELIVERY_EVENTS = `subscription ($endpointId: ID, $messageId: ID, $eventTypes: [String!], $after: String) {
  deliveryEvents(endpointId: $endpointId, messageId: $messageId, eventTypes: $eventTypes, after: $after) { ${DELIVERY_FIELDS} } }`;
const ENDPOINT_EVENTS = `subscription ($endpointId: ID, $after: String) { endpointEvents(endpointId: $endpointId, after: $after) { cursor kind messageId } }`;
const CREATE = `mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }`;
const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }`;
const STATUS = `query ($id: ID!) { message(id: $id) { deliveries { status attempts { number } } } }`;

interface DeliveryEventView {
  cursor: string;
  at: string;
  status: string;
  message: { id: string; eventType: string };
  endpoint: { id: string };
  attempt: { number: number; statusCode: number | null; succeeded: boolean } | null;
}

const BUFFER = 8;
const CAP = 4;

let stack: TestStack;
const receivers: Receiver[] = [];
const streams: LiveStream<unknown>[] = [];

beforeAll(async () => {
  stack = await startStack({ env: { HOOKFLOW_SUBSCRIPTION_BUFFER: String(BUFFER), HOOKFLOW_MAX_SUBSCRIPTIONS_PER_KEY: String(CAP) } });
});
beforeEach(async () => {
  await stack.useNewTenant();
});
afterEach(() => {
  for (const stream of streams.splice(0)) stream.close();
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await stack?.stop();
});

async function receiver(...args: Parameters<typeof startReceiver>) {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

const fast = (retriesUntilFailure: number, maxRetries: number) => ({
  retriesUntilFailure,
  maxRetries,
  initialIntervalMs: 50,
  backoffCoefficient: 1,
  maxIntervalMs: 50,
  jitter: 0,
});

async function createEndpoint(url: string, extra: Record<string, unknown> = {}, key = stack.apiKey): Promise<string> {
  const result = await stack.gql(CREATE, { input: { url, ...extra } }, key);
  expect(result.errors).toBeUndefined();
  return result.data.createEndpoint.endpoint.id;
}

async function send(eventType = 'order.created', payload: Record<string, unknown> = { n: 1 }, key = stack.apiKey): Promise<string> {
  const result = await stack.gql(SEND, { input: { eventType, payload } }, key);
  expect(result.errors).toBeUndefined();
  return result.data.sendMessage.id;
}

async function settled(messageId: string, status = 'SUCCEEDED'): Promise<void> {
  await eventually(
    async () =>
      (await stack.gql(STATUS, { id: messageId })).data?.message.deliveries.every((d: { status: string }) => d.status === status) ? true : undefined,
    20_000,
    `${messageId} ${status}`,
  );
}

/** Opens a subscription and waits until the API has registered it, so that "from now on" is now. */
async function open<T>(
  transport: Transport,
  query: string,
  variables: Record<string, unknown> = {},
  options: { key?: string; api?: RunningApi } = {},
): Promise<LiveStream<T>> {
  const api = options.api ?? stack.api;
  const before = api.live.hub.subscriptionCount;
  const stream = subscribe<T>(transport, api.url, options.key ?? stack.apiKey, query, variables);
  streams.push(stream as LiveStream<unknown>);
  await eventually(async () => (api.live.hub.subscriptionCount > before || stream.errors.length > 0 ? true : undefined), 10_000, 'the subscription to open');
  return stream;
}

const summary = (events: DeliveryEventView[]) =>
  events.map((e) => `${e.message.id}:${e.status}:${e.attempt ? `${e.attempt.number}/${e.attempt.statusCode}` : '-'}`);

describe.each(TRANSPORTS)('over %s', (transport) => {
  test('events arrive for a send, a retry, a recovery and a disable, in order', async () => {
    // Two failures, then acknowledged: a retry, on_failure (after 1 retry) and its recovery.
    const target = await receiver((_req, index, res) => answer(index < 2 ? 500 : 202)(_req, index, res));
    const endpointId = await createEndpoint(target.url, { retryPolicy: fast(1, 5) });
    const deliveries = await open<DeliveryEventView>(transport, DELIVERY_EVENTS, { endpointId });
    const lifecycle = await open<{ cursor: string; kind: string; messageId: string | null }>(transport, ENDPOINT_EVENTS, { endpointId });

    const first = await send();
    await deliveries.waitForItems(3);
    expect(summary(deliveries.items)).toEqual([`${first}:PENDING:0/500`, `${first}:FAILING:1/500`, `${first}:SUCCEEDED:2/202`]);
    expect(deliveries.items.every((e) => e.endpoint.id === endpointId && e.message.eventType === 'order.created')).toBe(true);
    await lifecycle.waitForItems(2);
    expect(lifecycle.items.map((e) => [e.kind, e.messageId])).toEqual([
      ['ON_FAILURE', first],
      ['ON_FAILURE_RECOVERED', first],
    ]);

    // Disabled: a new message is parked (a status change without an attempt); reactivated, it is delivered.
    expect((await stack.gql('mutation ($id: ID!) { disableEndpoint(id: $id) { status } }', { id: endpointId })).errors).toBeUndefined();
    await lifecycle.waitForItems(3);
    const parked = await send();
    await deliveries.waitForItems(4);
    expect((await stack.gql('mutation ($id: ID!) { reactivateEndpoint(id: $id) { status } }', { id: endpointId })).errors).toBeUndefined();
    await deliveries.waitForItems(5);
    await lifecycle.waitForItems(4);
    expect(summary(deliveries.items).slice(3)).toEqual([`${parked}:PARKED:-`, `${parked}:SUCCEEDED:0/202`]);
    expect(lifecycle.items.map((e) => e.kind)).toEqual(['ON_FAILURE', 'ON_FAILURE_RECOVERED', 'ON_DEACTIVATION', 'REACTIVATED']);
    // Every cursor is distinct; the stored lifecycle events are the ones streamed.
    expect(new Set(deliveries.items.map((e) => e.cursor)).size).toBe(5);
    const stored = (await stack.gql('query ($id: ID!) { endpoint(id: $id) { events { cursor kind } } }', { id: endpointId })).data.endpoint.events;
    expect(stored.map((e: { kind: string }) => e.kind)).toEqual(lifecycle.items.map((e) => e.kind));
    // A stored event's cursor resumes the live stream just after it.
    const resumed = await open<{ kind: string }>(transport, ENDPOINT_EVENTS, { endpointId, after: stored[1].cursor });
    await resumed.waitForItems(2);
    expect(resumed.items.map((e) => e.kind)).toEqual(['ON_DEACTIVATION', 'REACTIVATED']);
    expect(deliveries.errors).toEqual([]);
    expect(lifecycle.errors).toEqual([]);
  });

  test('deleting an endpoint streams its open deliveries as CANCELLED, then DELETED', async () => {
    const target = await receiver(answer(500));
    const endpointId = await createEndpoint(target.url, { retryPolicy: { ...fast(5, 50), initialIntervalMs: 5_000, maxIntervalMs: 5_000 } });
    const deliveries = await open<DeliveryEventView>(transport, DELIVERY_EVENTS, { endpointId });
    const lifecycle = await open<{ kind: string }>(transport, ENDPOINT_EVENTS, { endpointId });
    const message = await send();
    await deliveries.waitForItems(1);
    expect((await stack.gql('mutation ($id: ID!) { deleteEndpoint(id: $id) { id } }', { id: endpointId })).errors).toBeUndefined();
    await deliveries.waitForItems(2);
    await lifecycle.waitForItems(1);
    // Nothing follows: a CANCELLED recorded again (by the delivery workflow) has the same id.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(summary(deliveries.items)).toEqual([`${message}:PENDING:0/500`, `${message}:CANCELLED:-`]);
    expect(lifecycle.items.map((e) => e.kind)).toEqual(['DELETED']);
  });

  test('a resume with after yields exactly the events that were missed, then goes on live', async () => {
    const target = await receiver();
    const endpointId = await createEndpoint(target.url);
    const first = await open<DeliveryEventView>(transport, DELIVERY_EVENTS, { endpointId });
    const m1 = await send();
    const [seen] = await first.waitForItems(1);
    first.close();

    const missed = [await send(), await send()];
    await Promise.all(missed.map((m) => settled(m)));
    const resumed = await open<DeliveryEventView>(transport, DELIVERY_EVENTS, { endpointId, after: seen!.cursor });
    await resumed.waitForItems(2);
    const m4 = await send();
    await resumed.waitForItems(3);
    await new Promise((r) => setTimeout(r, 300));
    // The missed ones exactly once (delivered concurrently, so in any order between them), then the new one.
    expect(summary(resumed.items.slice(0, 2)).sort()).toEqual(missed.map((m) => `${m}:SUCCEEDED:0/202`).sort());
    expect(summary(resumed.items.slice(2))).toEqual([`${m4}:SUCCEEDED:0/202`]);
    expect(resumed.items.some((e) => e.message.id === m1)).toBe(false);
  });

  test('tenant isolation: nothing of another tenant, and its ids are NOT_FOUND like missing ones', async () => {
    const a = stack.apiKey;
    const target = await receiver();
    const endpointA = await createEndpoint(target.url, {}, a);
    const b = (await stack.useNewTenant()).apiKey;
    const endpointB = await createEndpoint(target.url, {}, b);
    const streamA = await open<DeliveryEventView>(transport, DELIVERY_EVENTS, {}, { key: a });
    const streamB = await open<DeliveryEventView>(transport, DELIVERY_EVENTS, {}, { key: b });
    const lifecycleB = await open(transport, ENDPOINT_EVENTS, {}, { key: b });

    const messageA = await send('order.created', { n: 1 }, a);
    await streamA.waitForItems(1);
    await stack.gql('mutation ($id: ID!) { disableEndpoint(id: $id) { status } }', { id: endpointA }, a);
    const messageB = await send('order.created', { n: 2 }, b);
    await streamB.waitForItems(1);
    await new Promise((r) => setTimeout(r, 300));
    // B's first event is its own: A's earlier one never reached it.
    expect(streamB.items.map((e) => e.message.id)).toEqual([messageB]);
    expect(streamB.items[0]!.endpoint.id).toBe(endpointB);
    expect(streamA.items.map((e) => e.message.id)).toEqual([messageA]);
    expect(lifecycleB.items).toEqual([]);

    for (const [query, variables, missing] of [
      [DELIVERY_EVENTS, { endpointId: endpointA }, { endpointId: 'ep_missing' }],
      [DELIVERY_EVENTS, { messageId: messageA }, { messageId: 'msg_missing' }],
      [ENDPOINT_EVENTS, { endpointId: endpointA }, { endpointId: 'ep_missing' }],
    ] as const) {
      const foreign = subscribe(transport, stack.api.url, b, query, variables);
      const absent = subscribe(transport, stack.api.url, b, query, missing);
      streams.push(foreign, absent);
      const [foreignError, absentError] = [await foreign.waitForError(), await absent.waitForError()];
      expect(foreignError.code).toBe('NOT_FOUND');
      expect(absentError.code).toBe('NOT_FOUND');
      expect(foreignError.message.replace(/"[^"]+"/, '"<id>"')).toBe(absentError.message.replace(/"[^"]+"/, '"<id>"'));
    }
  });

  test('a revoked key closes its open subscriptions within 5 s, with UNAUTHENTICATED', async () => {
    const { tenantId } = await stack.useNewTenant();
    const key = (await stack.gql('mutation ($t: ID!) { createApiKey(tenantId: $t) { id key } }', { t: tenantId }, stack.adminToken)).data.createApiKey;
    const stream = await open(transport, DELIVERY_EVENTS, {}, { key: key.key });
    const revokedAt = Date.now();
    expect((await stack.gql('mutation ($id: ID!) { revokeApiKey(id: $id) { revokedAt } }', { id: key.id }, stack.adminToken)).errors).toBeUndefined();
    const error = await stream.waitForError(10_000);
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(Date.now() - revokedAt).toBeLessThan(5_000);
  });

  test('the per-key cap refuses one subscription too many with TOO_MANY_SUBSCRIPTIONS', async () => {
    for (let i = 0; i < CAP; i++) await open(transport, ENDPOINT_EVENTS);
    const refused = subscribe(transport, stack.api.url, stack.apiKey, ENDPOINT_EVENTS);
    streams.push(refused);
    expect((await refused.waitForError()).code).toBe('TOO_MANY_SUBSCRIPTIONS');
  });

  test('an expired or unknown cursor is CURSOR_EXPIRED, a malformed one INVALID_CURSOR', async () => {
    const dayOld = encodeLiveCursor({ _id: 'anything', publishedAt: new Date(Date.now() - 25 * 3600_000) });
    const unknown = encodeLiveCursor({ _id: 'never-published', publishedAt: new Date() });
    for (const [after, code] of [
      [dayOld, 'CURSOR_EXPIRED'],
      [unknown, 'CURSOR_EXPIRED'],
      ['garbage', 'INVALID_CURSOR'],
    ] as const) {
      const stream = subscribe(transport, stack.api.url, stack.apiKey, DELIVERY_EVENTS, { after });
      streams.push(stream);
      const error = await stream.waitForError();
      expect(error.code).toBe(code);
      if (code === 'CURSOR_EXPIRED') expect(error.message).toMatch(/messages query/);
    }
  });
});

/** An API process of its own over the stack's database and worker, as `npm run api` would be. */
async function startSecondApi(port = 0, live: { ringSize?: number } = {}): Promise<RunningApi> {
  const config = loadConfig(testEnv());
  const services = createServices({
    db: stack.mongo.collections,
    temporal: stack.temporal,
    taskQueue: stack.taskQueue,
    maxPayloadBytes: config.HOOKFLOW_MAX_PAYLOAD_BYTES,
    secretBox: stack.secretBox,
    urlPolicy: urlPolicyOf(config),
    rotationOverlapMs: config.HOOKFLOW_SECRET_ROTATION_OVERLAP,
  });
  return startApiServer({
    services,
    db: stack.mongo.collections,
    live: { ...liveConfigOf(config), ...live },
    log: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port,
    maxRequestBytes: config.HOOKFLOW_MAX_REQUEST_BYTES,
  });
}

test('npx hookflow tail prints one line per delivery event and resumes after a dropped connection', async () => {
  const target = await receiver();
  const endpointId = await createEndpoint(target.url);
  let api = await startSecondApi();
  const port = Number(new URL(api.url).port);
  const cli = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'hookflow'), 'tail', '--endpoint', endpointId], {
    env: { ...process.env, HOOKFLOW_API_URL: api.url, HOOKFLOW_API_KEY: stack.apiKey, LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  cli.stdout.setEncoding('utf8').on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)));
  cli.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  try {
    await eventually(async () => (api.live.hub.subscriptionCount > 0 ? true : undefined), 20_000, `the CLI to subscribe (${stderr})`);
    const m1 = await send();
    await eventually(async () => (lines.length >= 1 ? true : undefined), 20_000, 'a line');
    expect(lines[0]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z  ${m1}  ${endpointId}  SUCCEEDED\\s+202\\s+\\d+ ms  order\\.created$`));

    // The API goes away; a message is delivered meanwhile; an API comes back on the same address.
    await api.close();
    const m2 = await send();
    await settled(m2);
    api = await startSecondApi(port);
    await eventually(async () => (lines.length >= 2 ? true : undefined), 30_000, `the missed line (${stderr})`);
    const m3 = await send();
    await eventually(async () => (lines.length >= 3 ? true : undefined), 20_000, 'a line after the resume');
    await new Promise((r) => setTimeout(r, 300));
    expect(lines.map((line) => line.split('  ')[1])).toEqual([m1, m2, m3]);
    expect(stderr).toMatch(/reconnecting/);
  } finally {
    cli.kill('SIGINT');
    await new Promise((resolve) => cli.once('exit', resolve));
    await api.close();
  }
});

test("a second API process serves the events the first stack's worker produced, and resumes from MongoDB", async () => {
  // A ring of one event: a resume is read from the capped collection, not from memory.
  const second = await startSecondApi(0, { ringSize: 1 });
  try {
    const target = await receiver();
    const endpointId = await createEndpoint(target.url);
    const onSecond = await open<DeliveryEventView>('ws', DELIVERY_EVENTS, { endpointId }, { api: second });
    const onFirst = await open<DeliveryEventView>('sse', DELIVERY_EVENTS, { endpointId });
    const m1 = await send();
    const [event] = await onSecond.waitForItems(1);
    await onFirst.waitForItems(1);
    expect(event!.message.id).toBe(m1);
    expect(event!.cursor).toBe(onFirst.items[0]!.cursor);
    onSecond.close();

    const missed = [await send(), await send(), await send()];
    await Promise.all(missed.map((m) => settled(m)));
    const resumed = await open<DeliveryEventView>('sse', DELIVERY_EVENTS, { endpointId, after: event!.cursor }, { api: second });
    await resumed.waitForItems(3);
    await new Promise((r) => setTimeout(r, 300));
    // Each missed one exactly once (their deliveries ran concurrently, so in any order between them).
    expect(resumed.items.map((e) => e.message.id).sort()).toEqual([...missed].sort());
  } finally {
    await second.close();
  }
});

test('a consumer that stops reading is cut off with SLOW_CONSUMER, and the others go on', async () => {
  const target = await receiver();
  const endpointId = await createEndpoint(target.url);
  const reader = await open<DeliveryEventView>('sse', DELIVERY_EVENTS, { endpointId });
  // A raw SSE request whose response is never read: the socket's buffers fill, then the server's queue.
  const before = stack.api.live.hub.subscriptionCount;
  // Eight aliases of the payload make each event about 2 MB, so that a few fill the socket's buffers.
  const payloads = Array.from({ length: 8 }, (_, i) => `p${i}: message { payload }`).join(' ');
  const body = JSON.stringify({ query: `subscription ($e: ID) { deliveryEvents(endpointId: $e) { cursor ${payloads} } }`, variables: { e: endpointId } });
  const chunks: Buffer[] = [];
  const stalled = request(stack.api.url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${stack.apiKey}`,
      accept: 'text/event-stream',
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    },
  });
  const response = new Promise<import('node:http').IncomingMessage>((resolve) => stalled.on('response', resolve));
  stalled.end(body);
  const res = await response;
  res.pause();
  await eventually(async () => (stack.api.live.hub.subscriptionCount > before ? true : undefined), 10_000, 'the stalled subscription');

  // A few events fill the socket buffers, then BUFFER more the subscription's queue.
  const big = { blob: 'x'.repeat(200 * 1024) };
  const sent: string[] = [];
  const cutOff = async () => stack.api.live.hub.subscriptionCount <= before;
  for (let i = 0; i < 100 && !(await cutOff()); i++) {
    sent.push(await send('order.created', big));
    if (i % 10 === 9)
      await eventually(
        async () => (reader.items.length >= sent.length - 5 ? true : undefined),
        30_000,
        `the reader to keep up (${reader.items.length} of ${sent.length})`,
      );
  }
  await eventually(async () => ((await cutOff()) ? true : undefined), 20_000, 'the stalled subscription to be cut off');

  // What was buffered is still readable, and ends with the coded error.
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.resume();
  await new Promise((resolve) => res.on('end', resolve));
  const text = Buffer.concat(chunks).toString('utf8');
  expect(text).toContain('"code":"SLOW_CONSUMER"');
  // The reader was not affected: it has every event once (messages are delivered concurrently, so in any order).
  await reader.waitForItems(sent.length);
  expect(reader.items.map((e) => e.message.id).sort()).toEqual([...sent].sort());
  expect(reader.errors).toEqual([]);
}, 120_000);
