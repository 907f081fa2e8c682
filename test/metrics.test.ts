/**
 * Deliveries of each outcome move Hookflow's counters and histograms by exactly what they did, read back
 * from /metrics (the worker's ops port and the API's port) with a Prometheus text-format parser.
 */
import { createServer } from 'node:net';
import { answer, startReceiver, type Receiver } from './helpers/receiver';
import { eventually, startStack, type TestStack } from './helpers/stack';
import { Scrape } from './helpers/prometheus';

const CREATE_ENDPOINT = `mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }`;
const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }`;
const DELIVERY = `query ($id: ID!) { message(id: $id) { deliveries { status attempts { number } } } }`;
const DELETE = `mutation ($id: ID!) { deleteEndpoint(id: $id) { id } }`;
const TIMEOUT_MS = 800;

let stack: TestStack;
const receivers: Receiver[] = [];
/** The operator webhook: every lifecycle event is also a notification on the `ops` channel. */
let ops: Receiver;

beforeAll(async () => {
  ops = await receiver(answer(200, 'ok'));
  stack = await startStack({
    deliveryTimeoutMs: TIMEOUT_MS,
    env: { HOOKFLOW_OPS_WEBHOOK_URL: ops.url, HOOKFLOW_OPS_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 3).toString('base64')}` },
  });
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

const NO_RETRIES = { maxRetries: 0, retriesUntilFailure: 0, initialIntervalMs: 20, backoffCoefficient: 1, maxIntervalMs: 50, jitter: 0 };

/** No retries (by default): each message makes exactly one attempt, and its failure exhausts the delivery. */
async function endpoint(url: string, retryPolicy: Record<string, number> = NO_RETRIES): Promise<string> {
  const result = await stack.gql(CREATE_ENDPOINT, { input: { url, eventTypes: ['metric.test'], retryPolicy } });
  expect(result.errors).toBeUndefined();
  return result.data.createEndpoint.endpoint.id;
}

async function sendAndSettle(): Promise<{ status: string; attempts: number }> {
  const sent = await stack.gql(SEND, { input: { eventType: 'metric.test', payload: { n: 1 } } });
  expect(sent.errors).toBeUndefined();
  const id = sent.data.sendMessage.id as string;
  return eventually(
    async () => {
      const d = (await stack.gql(DELIVERY, { id })).data.message.deliveries[0];
      return d && d.status !== 'PENDING' && d.status !== 'FAILING' ? { status: d.status as string, attempts: d.attempts.length as number } : undefined;
    },
    20_000,
    `message ${id} to settle`,
  );
}

const workerMetrics = () => Scrape.of(`${stack.opsUrl}/metrics`);
const apiMetrics = () => Scrape.of(stack.api.url.replace(/\/graphql$/, '/metrics'));

/** Every series of Hookflow's own the test looks at, as numbers, so that a difference is one subtraction. */
function snapshot(s: Scrape): Record<string, number> {
  const out: Record<string, number> = { accepted: s.value('hookflow_messages_accepted_total') };
  for (const result of ['acknowledged', 'http_error', 'timeout', 'connection', 'throttled'])
    out[`attempts.${result}`] = s.value('hookflow_attempts_total', { result });
  for (const status of ['succeeded', 'parked', 'cancelled', 'exhausted']) out[`deliveries.${status}`] = s.value('hookflow_deliveries_total', { status });
  out['attemptDuration.count'] = s.count('hookflow_attempt_duration_seconds');
  out['deliveryLatency.count'] = s.count('hookflow_delivery_latency_seconds');
  out['lifecycle.on_deactivation'] = s.value('hookflow_lifecycle_events_total', { kind: 'on_deactivation' });
  out['notifications.ops.sent'] = s.value('hookflow_notifications_total', { channel: 'ops', result: 'sent' });
  return out;
}

/** What changed between two snapshots, zeros left out. */
function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.keys(after)
      .map((k) => [k, after[k]! - (before[k] ?? 0)])
      .filter(([, v]) => v !== 0),
  );
}

/**
 * Sends one message, waits until it settles and the lifecycle has recorded and notified what it raised,
 * and returns the change.
 */
/**
 * Notifications are sent at least once: a notify activity that outlived its timeout on a loaded machine
 * is retried, and both sends are counted. Everything else in a delta is exact.
 */
function withNotificationsAtLeastOnce(change: Record<string, number>): Record<string, number> {
  const sent = change['notifications.ops.sent'];
  return sent === undefined ? change : { ...change, 'notifications.ops.sent': Math.min(sent, 1) };
}

/** The earlier tests' notifications run as workflows of their own: they must end before anything is counted. */
async function notificationsSettled(): Promise<void> {
  const running = `WorkflowType = 'notifyEndpointEvent' AND ExecutionStatus = 'Running' AND TaskQueue = '${stack.taskQueue}'`;
  await eventually(async () => (await stack.temporal.workflow.count(running)).count === 0 || undefined, 30_000, 'earlier notifications to end');
}

async function measure(expectedLifecycle: number): Promise<{ settled: { status: string; attempts: number }; change: Record<string, number> }> {
  await notificationsSettled();
  const before = snapshot(await workerMetrics());
  const settled = await sendAndSettle();
  const after = await eventually(
    async () => {
      const s = snapshot(await workerMetrics());
      const raised = s['lifecycle.on_deactivation']! - before['lifecycle.on_deactivation']!;
      const notified = s['notifications.ops.sent']! - before['notifications.ops.sent']!;
      // The attempt's metrics are recorded after its row is written, which is what settled saw.
      const timed = s['attemptDuration.count']! - before['attemptDuration.count']!;
      return raised >= expectedLifecycle && notified >= expectedLifecycle && timed >= settled.attempts ? s : undefined;
    },
    20_000,
    'attempts and lifecycle events to be counted and notified',
  );
  return { settled, change: withNotificationsAtLeastOnce(delta(before, after)) };
}

beforeEach(async () => {
  await stack.useNewTenant();
});

test('an acknowledged delivery: one acknowledged attempt, one success, one latency observation', async () => {
  const r = await receiver(answer(200, 'ok'));
  await endpoint(r.url);
  const { settled, change } = await measure(0);
  expect(settled).toEqual({ status: 'SUCCEEDED', attempts: 1 });
  // Tracing is off without OTEL_EXPORTER_OTLP_ENDPOINT: no trace header goes out.
  expect(r.requests[0]!.headers.traceparent).toBeUndefined();
  expect(change).toEqual({
    accepted: 1,
    'attempts.acknowledged': 1,
    'attemptDuration.count': 1,
    'deliveries.succeeded': 1,
    'deliveryLatency.count': 1,
  });
});

test('an HTTP 500 with no retries left: one http_error attempt, an exhausted delivery, the endpoint deactivated', async () => {
  const r = await receiver(answer(500, 'down'));
  await endpoint(r.url);
  const { settled, change } = await measure(1);
  expect(settled).toEqual({ status: 'PARKED', attempts: 1 });
  expect(change).toEqual({
    accepted: 1,
    'attempts.http_error': 1,
    'attemptDuration.count': 1,
    'deliveries.exhausted': 1,
    'lifecycle.on_deactivation': 1,
    'notifications.ops.sent': 1,
  });
});

test('a 429 counts as throttled, a receiver that never answers as timeout, a closed port as connection', async () => {
  const throttling = await receiver(answer(429, 'slow down'));
  const silent = await receiver(() => undefined);
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as { port: number }).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));

  const cases: [string, string][] = [
    [throttling.url, 'attempts.throttled'],
    [silent.url, 'attempts.timeout'],
    [`http://127.0.0.1:${closedPort}/webhook`, 'attempts.connection'],
  ];
  for (const [url, counter] of cases) {
    await stack.useNewTenant();
    await endpoint(url);
    const { settled, change } = await measure(1);
    expect(settled).toEqual({ status: 'PARKED', attempts: 1 });
    expect(change).toEqual({
      accepted: 1,
      [counter]: 1,
      'attemptDuration.count': 1,
      'deliveries.exhausted': 1,
      'lifecycle.on_deactivation': 1,
      'notifications.ops.sent': 1,
    });
  }
  // The timeout's attempt lasted the whole budget: its duration fell in the buckets above TIMEOUT_MS / 1000.
  const histogram = (await workerMetrics()).sample('hookflow_attempt_duration_seconds')!;
  const slow = Object.entries(histogram.buckets!).filter(([le]) => Number(le) < TIMEOUT_MS / 1000);
  const total = Number(histogram.count);
  expect(slow.every(([, n]) => Number(n) < total)).toBe(true);
});

test('deleting an endpoint with a delivery waiting to retry counts it cancelled; endpoints are gauged by status', async () => {
  const r = await receiver(answer(503, 'busy'));
  const id = await endpoint(r.url, {
    maxRetries: 5,
    retriesUntilFailure: 5,
    initialIntervalMs: 60_000,
    backoffCoefficient: 1,
    maxIntervalMs: 60_000,
    jitter: 0,
  });
  await notificationsSettled();
  const before = snapshot(await workerMetrics());
  await stack.gql(SEND, { input: { eventType: 'metric.test', payload: { n: 2 } } });
  await r.waitFor(1);
  await eventually(async () => (snapshot(await workerMetrics())['attempts.http_error']! > before['attempts.http_error']! ? true : undefined));
  const deleted = await stack.gql(DELETE, { id });
  expect(deleted.errors).toBeUndefined();
  const after = snapshot(await apiMetrics());
  // An earlier test's notification can still be sent again by a retried activity: this test counts deliveries.
  const { 'notifications.ops.sent': _lateNotification, ...deliveryCounts } = delta(before, after);
  expect(deliveryCounts).toEqual({ accepted: 1, 'attempts.http_error': 1, 'attemptDuration.count': 1, 'deliveries.cancelled': 1 });

  // This stack's database holds every endpoint the tests above created: 1 active, 4 disabled, 1 deleted.
  await eventually(
    async () => {
      const s = await apiMetrics();
      const counts = ['active', 'failing', 'disabled'].map((status) => s.value('hookflow_endpoints', { status }));
      return JSON.stringify(counts) === JSON.stringify([1, 0, 4]) ? counts : undefined;
    },
    20_000,
    'hookflow_endpoints to count 1 active, 0 failing, 4 disabled',
  );
});

test('a maintenance pass counts each repair by kind, exactly as its report does', async () => {
  const r = await receiver(answer(200, 'ok'));
  const id = await endpoint(r.url);
  // Drift: the endpoint's status in MongoDB disagrees with its lifecycle workflow (ACTIVE).
  await stack.mongo.collections.endpoints.updateOne({ _id: id }, { $set: { status: 'FAILING', failingSince: new Date() } });
  const kinds = [
    'parked_message_expired',
    'message_workflow_started',
    'delivery_corrected',
    'endpoint_status_corrected',
    'endpoint_workflow_started',
    'parked_resumed',
  ];
  const repairs = (s: Scrape) => Object.fromEntries(kinds.map((kind) => [kind, s.value('hookflow_maintenance_repairs_total', { kind })]));
  const before = repairs(await workerMetrics());
  const report = await stack.runMaintenance({ asOf: Date.now() + 2 * 60_000 });
  const after = repairs(await workerMetrics());
  expect(report.counts.endpointStatusesCorrected).toBe(1);
  const { parkedExpired, messageWorkflowsStarted, deliveriesCorrected, endpointStatusesCorrected, endpointWorkflowsStarted, parkedResumed } = report.counts;
  const fromReport = [parkedExpired, messageWorkflowsStarted, deliveriesCorrected, endpointStatusesCorrected, endpointWorkflowsStarted, parkedResumed];
  expect(kinds.map((kind) => after[kind]! - before[kind]!)).toEqual(fromReport);
});

test('the API and the worker serve the same registry in one process, and every Hookflow metric is there', async () => {
  const names = (await apiMetrics()).families
    .map((f) => f.name)
    .filter((n) => n.startsWith('hookflow_'))
    .sort();
  expect(names).toEqual([
    'hookflow_attempt_duration_seconds',
    'hookflow_attempts_total',
    'hookflow_deliveries_total',
    'hookflow_delivery_latency_seconds',
    'hookflow_endpoints',
    'hookflow_lifecycle_events_total',
    'hookflow_maintenance_repairs_total',
    'hookflow_messages_accepted_total',
    'hookflow_notifications_total',
    'hookflow_workflow_starts_total',
  ]);
});
