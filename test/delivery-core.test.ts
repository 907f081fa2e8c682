/**
 * One test per defect of the delivery core v2 issue: each scenario a user could hit, on the real
 * servers. Their names carry the defect's number.
 */
import { execFileSync } from 'node:child_process';
import { loadConfig } from '../src/config';
import { temporalCliPath } from '../src/dev/tools';
import { createSecretBox, generateEncryptionKey } from '../src/secret-box';
import { deliveryId } from '../src/db/types';
import { answer, startReceiver, type Receiver, type Script } from './helpers/receiver';
import { eventually, startStack, type TestStack } from './helpers/stack';
import { MAX_THROTTLED_PASSES } from '../workflows/deliver';
import pino from 'pino';
import type { Client } from '@temporalio/client';
import { createMaintenanceActivities } from '../activities/maintenance';
import { createStore } from '../src/store';
import { endpointWorkflowId, lifecycleStateQuery } from '../workflows/definitions';

const FAST = { retriesUntilFailure: 1, maxRetries: 2, initialIntervalMs: 100, backoffCoefficient: 1, maxIntervalMs: 100, jitter: 0 };

let stack: TestStack;
const receivers: Receiver[] = [];

beforeAll(async () => {
  stack = await startStack({ env: { HOOKFLOW_MAX_IN_FLIGHT_PER_ENDPOINT: '2' } });
});
beforeEach(async () => {
  await stack.useNewTenant();
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await stack?.stop();
});

async function receiver(script?: Script): Promise<Receiver> {
  const r = await startReceiver(script);
  receivers.push(r);
  return r;
}
async function ok<T = any>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await stack.gql(query, variables);
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data as T;
}
const createEndpoint = async (input: Record<string, unknown>): Promise<string> =>
  (await ok('mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }', { input })).createEndpoint.endpoint.id;
const send = async (input: Record<string, unknown>): Promise<string> =>
  (await ok('mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }', { input })).sendMessage.id;
const endpointStatus = async (id: string): Promise<string> => (await ok('query ($id: ID!) { endpoint(id: $id) { status } }', { id })).endpoint.status;
const deliveryRow = (messageId: string, endpointId: string) => stack.mongo.collections.deliveries.findOne({ _id: deliveryId(messageId, endpointId) });
const ids = (r: Receiver) => r.requests.map((q) => q.headers['message-id'] as string);
const at = (s: number) => new Date(Date.UTC(2026, 3, 1, 0, 0, s)).toISOString();

test('defect 1: recoverEndpoint on a disabled endpoint strands nothing; reactivation posts every message in event order', async () => {
  const r = await receiver(answer(202));
  const endpointId = await createEndpoint({ url: r.url, retryPolicy: FAST });
  await ok('mutation ($id: ID!) { disableEndpoint(id: $id) { status } }', { id: endpointId });
  const sent = [
    await send({ eventType: 'a.b', payload: { n: 3 }, occurredAt: at(3) }),
    await send({ eventType: 'a.b', payload: { n: 1 }, occurredAt: at(1) }),
    await send({ eventType: 'a.b', payload: { n: 2 }, occurredAt: at(2) }),
  ];
  await eventually(
    async () => (await Promise.all(sent.map((m) => deliveryRow(m, endpointId)))).every((d) => d?.status === 'PARKED') || undefined,
    15_000,
    'all parked',
  );

  const recovered = await ok('mutation ($id: ID!, $since: DateTime!) { recoverEndpoint(id: $id, since: $since) { enqueued } }', {
    id: endpointId,
    since: new Date(Date.now() - 60_000).toISOString(),
  });
  expect(recovered.recoverEndpoint.enqueued).toBe(3);
  // The redelivery finds the endpoint disabled and leaves every row PARKED: nothing PENDING, nothing posted.
  await eventually(
    async () => (await stack.temporal.workflow.getHandle(`redeliver-${endpointId}`).describe()).status.name !== 'RUNNING' || undefined,
    15_000,
    'redelivery to stop',
  );
  expect((await Promise.all(sent.map((m) => deliveryRow(m, endpointId)))).map((d) => d!.status)).toEqual(['PARKED', 'PARKED', 'PARKED']);
  expect(r.requests).toHaveLength(0);

  await ok('mutation ($id: ID!) { reactivateEndpoint(id: $id) { status } }', { id: endpointId });
  await r.waitFor(3);
  expect(r.requests.map((q) => JSON.parse(q.body).data.n)).toEqual([1, 2, 3]);
  await eventually(
    async () => (await Promise.all(sent.map((m) => deliveryRow(m, endpointId)))).every((d) => d?.status === 'SUCCEEDED') || undefined,
    10_000,
    'all SUCCEEDED',
  );
});

test('defect 2: a message routed to 70 endpoints is delivered to each, and maintenance has nothing to fail on', async () => {
  const r = await receiver(answer(202));
  const endpoints: string[] = [];
  for (let i = 0; i < 70; i++) endpoints.push(await createEndpoint({ url: `${r.url}?ep=${i}`, eventTypes: ['fan.out'] }));
  const messageId = await send({ eventType: 'fan.out', payload: { wide: true } });
  await r.waitFor(70, 60_000);
  expect(new Set(r.requests.map((q) => q.path))).toHaveProperty('size', 70);
  const description = await stack.temporal.workflow.getHandle(`deliver-${messageId}`).describe();
  const listed = description.searchAttributes.HookflowEndpointIds as string[];
  expect(listed.length).toBeGreaterThan(40);
  expect(listed.length).toBeLessThan(70);
  const report = await stack.runMaintenance({ asOf: Date.now() + 120_000 });
  expect(report.counts.itemsFailed).toBe(0);
}, 120_000);

test('defect 3: quick disable/reactivate cycles and a maintenance run never run two redeliveries: each parked message is posted once, in order', async () => {
  const r = await receiver((req, i, res) => void setTimeout(() => answer(202)(req, i, res), 150));
  const endpointId = await createEndpoint({ url: r.url, retryPolicy: FAST });
  await ok('mutation ($id: ID!) { disableEndpoint(id: $id) { status } }', { id: endpointId });
  const sent: string[] = [];
  for (let n = 1; n <= 6; n++) sent.push(await send({ eventType: 'a.b', payload: { n }, occurredAt: at(n) }));
  await eventually(
    async () => (await Promise.all(sent.map((m) => deliveryRow(m, endpointId)))).every((d) => d?.status === 'PARKED') || undefined,
    15_000,
    'all parked',
  );

  const id = { id: endpointId };
  await ok('mutation ($id: ID!) { reactivateEndpoint(id: $id) { status } }', id);
  await ok('mutation ($id: ID!) { disableEndpoint(id: $id) { status } }', id);
  await ok('mutation ($id: ID!) { reactivateEndpoint(id: $id) { status } }', id);
  await stack.runMaintenance({ asOf: Date.now() + 120_000 });
  await r.waitFor(6, 20_000);
  await eventually(
    async () => (await Promise.all(sent.map((m) => deliveryRow(m, endpointId)))).every((d) => d?.status === 'SUCCEEDED') || undefined,
    20_000,
    'all SUCCEEDED',
  );
  expect(ids(r)).toEqual(sent);
});

test('defect 4: with a notification channel down, the lifecycle workflow waits on no notification: each change applies at once, and a delete ends it', async () => {
  const endpointId = await createEndpoint({ url: 'http://127.0.0.1:9/unused', notifyEmails: ['ops@example.com'] });
  const handle = stack.temporal.workflow.getHandle(`endpoint-${endpointId}`);
  const firstRun = (await handle.describe()).runId;
  // Notifications retry in the background (no SMTP here); each cycle adds events to the lifecycle history.
  for (let i = 0; i < 3; i++) {
    expect((await ok('mutation ($id: ID!) { disableEndpoint(id: $id) { status } }', { id: endpointId })).disableEndpoint.status).toBe('DISABLED');
    expect((await ok('mutation ($id: ID!) { reactivateEndpoint(id: $id) { status } }', { id: endpointId })).reactivateEndpoint.status).toBe('ACTIVE');
  }
  const description = await handle.describe();
  // Notifications are child workflows left to run: the lifecycle holds no activity of theirs.
  expect(description.raw.pendingActivities ?? []).toHaveLength(0);
  const children = await stack.temporal.workflow.count(`WorkflowType = 'notifyEndpointEvent' AND WorkflowId STARTS_WITH 'notify-${endpointId}'`);
  expect(children.count).toBe(3);
  expect(description.runId).toBe(firstRun);
  await ok('mutation ($id: ID!) { deleteEndpoint(id: $id) { id } }', { id: endpointId });
  await eventually(async () => (await handle.describe()).status.name === 'COMPLETED' || undefined, 10_000, 'lifecycle to end');
});

test('defect 5: resendMessage while the delivery is still retrying takes it over: distinct attempt numbers, the old run stops posting', async () => {
  let failing = true;
  const r = await receiver((req, i, res) => answer(failing ? 500 : 202)(req, i, res));
  const endpointId = await createEndpoint({
    url: r.url,
    retryPolicy: { retriesUntilFailure: 5, maxRetries: 5, initialIntervalMs: 1_500, backoffCoefficient: 1, maxIntervalMs: 1_500, jitter: 0 },
  });
  const messageId = await send({ eventType: 'a.b', payload: {} });
  await r.waitFor(2, 10_000);
  failing = false;
  await ok('mutation ($m: ID!, $e: ID!) { resendMessage(messageId: $m, endpointId: $e) { status } }', { m: messageId, e: endpointId });
  await eventually(async () => (await deliveryRow(messageId, endpointId))?.status === 'SUCCEEDED' || undefined, 10_000, 'SUCCEEDED');
  // Give the original run time for its next retry: it must find the delivery taken over and post nothing.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  const row = (await deliveryRow(messageId, endpointId))!;
  const attempts = (await ok('query ($id: ID!) { message(id: $id) { deliveries { attempts { number statusCode } } } }', { id: messageId })).message
    .deliveries[0].attempts;
  expect(row.status).toBe('SUCCEEDED');
  expect(row.attemptCount).toBe(r.requests.length);
  expect(attempts).toHaveLength(r.requests.length);
  expect(attempts.map((a: { statusCode: number }) => a.statusCode)).toEqual([500, 500, 202]);
  const original = await stack.temporal.workflow.getHandle(`deliver-${messageId}`).result();
  expect(original.deliveries[0].status).toBe('SUPERSEDED');
});

test('defect 6: an idempotency key repeated after Temporal purged the run posts nothing again; after the message was deleted it is a new message, delivered', async () => {
  const r = await receiver(answer(202));
  await createEndpoint({ url: r.url });
  const input = { eventType: 'a.b', payload: { v: 1 }, idempotencyKey: 'purge-1' };
  const messageId = await send(input);
  await r.waitFor(1);
  const workflowId = `deliver-${messageId}`;
  await stack.temporal.workflow.getHandle(workflowId).result();
  await stack.temporal.workflowService.deleteWorkflowExecution({ namespace: 'default', workflowExecution: { workflowId } });
  await eventually(async () => (await stack.temporal.workflow.count(`WorkflowId = '${workflowId}'`)).count === 0 || undefined, 60_000, 'run purged');
  expect(await send(input)).toBe(messageId);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect(r.requests).toHaveLength(1);

  // Retention deleted the message (and its rows); the workflow of its first incarnation is still held.
  await stack.temporal.workflow
    .start('deliverMessage', { taskQueue: 'nowhere', workflowId, args: [{ tenantId: 'x', messageId, eventType: 'a.b', endpointIds: [] }] })
    .then((h) => h.terminate('stand-in for a closed run'));
  const db = stack.mongo.collections;
  await db.deliveries.deleteMany({ messageId });
  await db.attempts.deleteMany({ messageId });
  await db.messages.deleteOne({ _id: messageId });
  expect(await send(input)).toBe(messageId);
  await r.waitFor(2);
  expect(ids(r)).toEqual([messageId, messageId]);
  const report = await stack.runMaintenance({ asOf: Date.now() + 120_000 });
  expect(report.counts.deliveriesCorrected).toBe(0);
  expect((await db.deliveries.findOne({ messageId }))!.status).toBe('SUCCEEDED');
}, 150_000);

test('defect 7: deliveries held back by the in-flight cap stop adding throttled passes to their history after MAX_THROTTLED_PASSES', async () => {
  // The cap is 2 here, and each answer takes 5 s: the last of 14 messages waits about 30 s for a slot.
  const r = await receiver((req, i, res) => void setTimeout(() => answer(202)(req, i, res), 5_000));
  await createEndpoint({ url: r.url });
  const sent = await Promise.all(Array.from({ length: 14 }, (_, n) => send({ eventType: 'a.b', payload: { n } })));
  await r.waitFor(14, 90_000);
  const passes = await Promise.all(
    sent.map(async (m) => {
      const handle = stack.temporal.workflow.getHandle(`deliver-${m}`);
      await handle.result();
      // Each throttled pass is one timer; a delivery acknowledged at once starts none otherwise.
      return (await handle.fetchHistory()).events!.filter((e) => e.timerStartedEventAttributes).length;
    }),
  );
  // The longest waiters reached the cap, and then waited inside one activity without adding passes.
  expect(Math.max(...passes)).toBe(MAX_THROTTLED_PASSES);
}, 150_000);

test('defect 8: on_failure is raised before on_deactivation when retriesUntilFailure equals maxRetries', async () => {
  const r = await receiver(answer(500));
  const endpointId = await createEndpoint({ url: r.url, retryPolicy: { ...FAST, retriesUntilFailure: 2, maxRetries: 2 } });
  await send({ eventType: 'a.b', payload: {} });
  await eventually(async () => (await endpointStatus(endpointId)) === 'DISABLED' || undefined, 10_000, 'DISABLED');
  const events = (await ok('query ($id: ID!) { endpoint(id: $id) { events { kind attempts } } }', { id: endpointId })).endpoint.events;
  expect(events).toEqual([
    { kind: 'ON_FAILURE', attempts: 3 },
    { kind: 'ON_DEACTIVATION', attempts: 3 },
  ]);
});

test('defect 10: a bearer token as long as the admin token, with non-ASCII characters, is refused with UNAUTHENTICATED', async () => {
  const token = 'é'.repeat(stack.adminToken.length);
  const response = await stack.gql('{ tenants { id } }', {}, token);
  expect(response.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
});

describe('defect 11: bad payloads are refused before anything is stored', () => {
  const deep = (n: number): unknown => (n === 0 ? 1 : { d: deep(n - 1) });
  test.each([
    ['a key with a NUL character', { 'a\u0000b': 1 }],
    ['a key starting with $', { nested: { $where: 'x' } }],
    ['a key with a dot', { 'a.b': 1 }],
    ['nesting deeper than 64 levels', deep(70)],
  ])('%s', async (_, payload) => {
    const r = await receiver(answer(202));
    await createEndpoint({ url: r.url });
    const response = await stack.gql('mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }', {
      input: { eventType: 'bad.payload', payload, idempotencyKey: 'bad-1' },
    });
    expect(response.errors![0]!.extensions).toMatchObject({ code: 'INVALID_PAYLOAD', field: 'payload' });
    expect(await stack.mongo.collections.deliveries.countDocuments({ eventType: 'bad.payload' })).toBe(0);
    expect(await stack.mongo.collections.messages.countDocuments({ eventType: 'bad.payload' })).toBe(0);
  });

  test('an idempotency key repeated after a new endpoint matched leaves no delivery row for it', async () => {
    const r = await receiver(answer(202));
    await createEndpoint({ url: r.url });
    const input = { eventType: 'race.key', payload: {}, idempotencyKey: 'race-1' };
    const messageId = await send(input);
    const late = await createEndpoint({ url: `${r.url}?late` });
    expect(await send(input)).toBe(messageId);
    expect(await deliveryRow(messageId, late)).toBeNull();
    expect(await stack.mongo.collections.deliveries.countDocuments({ messageId })).toBe(1);
  });
});

describe('defect 12: one query cannot load unbounded data', () => {
  test('the cost counts first: 500 messages with every attempt body is refused, a modest page is not', async () => {
    const heavy = await stack.gql('{ messages(first: 500) { nodes { deliveries { attempts { responseBody } } } } }');
    expect(heavy.errors).toEqual([expect.objectContaining({ extensions: { code: 'QUERY_TOO_COSTLY' } })]);
    const modest = await stack.gql('{ messages(first: 50) { nodes { id deliveries { status attempts { statusCode } } } } }');
    expect(modest.errors).toBeUndefined();
  });

  test('Endpoint.events pages, and retention prunes endpoint events and notification records', async () => {
    const endpointId = await createEndpoint({ url: 'http://127.0.0.1:9/unused' });
    for (let i = 0; i < 2; i++) {
      await ok('mutation ($id: ID!) { disableEndpoint(id: $id) { status } }', { id: endpointId });
      await ok('mutation ($id: ID!) { reactivateEndpoint(id: $id) { status } }', { id: endpointId });
    }
    const page1 = (await ok('query ($id: ID!) { endpoint(id: $id) { events(first: 3) { id kind } } }', { id: endpointId })).endpoint.events;
    expect(page1.map((e: { kind: string }) => e.kind)).toEqual(['ON_DEACTIVATION', 'REACTIVATED', 'ON_DEACTIVATION']);
    const page2 = (
      await ok('query ($id: ID!, $after: ID) { endpoint(id: $id) { events(first: 3, after: $after) { kind } } }', { id: endpointId, after: page1[2].id })
    ).endpoint.events;
    expect(page2.map((e: { kind: string }) => e.kind)).toEqual(['REACTIVATED']);

    const db = stack.mongo.collections;
    const old = new Date(Date.now() - 8 * 24 * 60 * 60_000);
    await db.endpointEvents.updateMany({ endpointId }, { $set: { at: old } });
    await db.notifications.insertOne({ _id: `${endpointId}:1:email:ops@example.com`, sentAt: old });
    const report = await stack.runMaintenance();
    expect(report.counts.endpointEventsDeleted).toBeGreaterThanOrEqual(4);
    expect(report.counts.notificationsDeleted).toBeGreaterThanOrEqual(1);
    expect(await db.endpointEvents.countDocuments({ endpointId })).toBe(0);
  });
});

test("defect 13 and the operator signal: notifications reach an operator webhook on a private address while tenants' URLs are guarded; `temporal workflow signal` reactivates", async () => {
  const ops = await receiver(answer(202));
  const guarded = await startStack({
    env: { HOOKFLOW_ALLOW_PRIVATE_URLS: '', HOOKFLOW_OPS_WEBHOOK_URL: ops.url, HOOKFLOW_OPS_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
  });
  try {
    const refused = await guarded.gql('mutation { createEndpoint(input: { url: "http://127.0.0.1:9/x" }) { endpoint { id } } }');
    expect(refused.errors![0]!.extensions!.code).toBe('URL_NOT_ALLOWED');
    const created = await guarded.gql('mutation { createEndpoint(input: { url: "http://hooks.example.com/x" }) { endpoint { id } } }');
    const endpointId = created.data.createEndpoint.endpoint.id;
    await guarded.gql('mutation ($id: ID!) { disableEndpoint(id: $id) { status } }', { id: endpointId });
    await ops.waitFor(1, 15_000);
    expect(JSON.parse(ops.requests[0]!.body).type).toBe('endpoint.disabled');

    const cli = temporalCliPath(loadConfig().HOOKFLOW_CACHE_DIR);
    const input = JSON.stringify({ by: 'alice from the Web UI' });
    execFileSync(cli, [
      'workflow',
      'signal',
      '--workflow-id',
      `endpoint-${endpointId}`,
      '--name',
      'reactivate',
      '--input',
      input,
      '--address',
      process.env.TEST_TEMPORAL_ADDRESS!,
    ]);
    const reactivated = await eventually(
      async () => {
        const endpoint = (await guarded.gql('query ($id: ID!) { endpoint(id: $id) { status events { kind reason } } }', { id: endpointId })).data.endpoint;
        return endpoint.status === 'ACTIVE' ? endpoint : undefined;
      },
      10_000,
      'ACTIVE',
    );
    expect(reactivated.events.at(-1)).toEqual({ kind: 'REACTIVATED', reason: 'reactivated by hand (alice from the Web UI)' });
  } finally {
    await guarded.stop();
  }
});

test('a secret the worker cannot decrypt is a non-retryable failure: no request, the policy runs its course, the delivery is parked', async () => {
  const r = await receiver(answer(202));
  const endpointId = await createEndpoint({ url: r.url, retryPolicy: FAST });
  const otherKey = createSecretBox(generateEncryptionKey());
  await stack.mongo.collections.endpoints.updateOne(
    { _id: endpointId },
    { $set: { secrets: [{ sealed: otherKey.seal('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'), expiresAt: null }] } },
  );
  const messageId = await send({ eventType: 'a.b', payload: {} });
  await eventually(async () => (await endpointStatus(endpointId)) === 'DISABLED' || undefined, 15_000, 'DISABLED');
  const events = (await ok('query ($id: ID!) { endpoint(id: $id) { events { kind error } } }', { id: endpointId })).endpoint.events;
  expect(events.at(-1)).toMatchObject({ kind: 'ON_DEACTIVATION', error: expect.stringMatching(/^SECRET_UNREADABLE: .*HOOKFLOW_ENCRYPTION_KEY/) });
  expect(r.requests).toHaveLength(0);
  const result = await stack.temporal.workflow.getHandle(`deliver-${messageId}`).result();
  expect(result.deliveries[0].status).toBe('PARKED');
});

test('maintenance never writes over a newer lifecycle status with the state it queried (found by the model test, seed 994143301)', async () => {
  const r = await receiver(answer(202));
  const endpointId = await createEndpoint({ url: r.url, retryPolicy: FAST });
  const disable = () => ok('mutation ($id: ID!) { disableEndpoint(id: $id) { status } }', { id: endpointId });
  const reactivate = () => ok('mutation ($id: ID!) { reactivateEndpoint(id: $id) { status } }', { id: endpointId });
  const store = createStore(stack.mongo.collections);
  // The interleaving: maintenance reads the endpoint (ACTIVE); an operator disables it; maintenance's
  // query answers DISABLED; the operator reactivates it (the workflow saves ACTIVE); then maintenance
  // compares what it queried with what it read, and would write DISABLED over the newer ACTIVE.
  const read = (await store.endpoints.get(endpointId))!;
  await disable();
  const afterQuery = async () => void (await reactivate());
  const real = stack.temporal.workflow;
  const bind = <T extends object>(target: T, override: Record<string | symbol, unknown>): T =>
    new Proxy(target, {
      get(t, key) {
        if (key in override) return override[key];
        const value = Reflect.get(t, key);
        return typeof value === 'function' ? value.bind(t) : value;
      },
    });
  const workflow = bind(real, {
    getHandle: (id: string) => {
      const handle = real.getHandle(id);
      if (id !== endpointWorkflowId(endpointId)) return handle;
      return bind(handle, {
        query: async (...args: Parameters<typeof handle.query>) => {
          const state = await handle.query(...args);
          await afterQuery();
          return state;
        },
      });
    },
  });
  const temporal = bind(stack.temporal, { workflow }) as Client;
  const maintenance = createMaintenanceActivities({
    store: { ...store, endpoints: { ...store.endpoints, listLive: async () => [read] } },
    temporal,
    taskQueue: stack.taskQueue,
    log: pino({ level: 'silent' }),
  });
  const counts = await maintenance.reconcileEndpoints({ asOf: Date.now() });
  expect(counts).toMatchObject({ endpointStatusesCorrected: 0, itemsFailed: 0 });
  expect(await endpointStatus(endpointId)).toBe('ACTIVE');
  expect((await stack.temporal.workflow.getHandle(endpointWorkflowId(endpointId)).query(lifecycleStateQuery)).status).toBe('ACTIVE');
});

test('a failing delivery taken over by resendMessage and acknowledged raises on_failure_recovered, and the endpoint is ACTIVE again (found by the model test, seed 998862314)', async () => {
  let failing = true;
  const r = await receiver((req, i, res) => answer(failing ? 500 : 202)(req, i, res));
  const endpointId = await createEndpoint({
    url: r.url,
    retryPolicy: { retriesUntilFailure: 1, maxRetries: 5, initialIntervalMs: 3_000, backoffCoefficient: 1, maxIntervalMs: 3_000, jitter: 0 },
  });
  const messageId = await send({ eventType: 'a.b', payload: {} });
  // The first try and one retry fail: on_failure, the endpoint is FAILING.
  await eventually(async () => (await endpointStatus(endpointId)) === 'FAILING' || undefined, 15_000, 'FAILING');
  failing = false;
  await ok('mutation ($m: ID!, $e: ID!) { resendMessage(messageId: $m, endpointId: $e) { status } }', { m: messageId, e: endpointId });
  await eventually(async () => (await deliveryRow(messageId, endpointId))?.status === 'SUCCEEDED' || undefined, 10_000, 'SUCCEEDED');
  await eventually(async () => (await endpointStatus(endpointId)) === 'ACTIVE' || undefined, 10_000, 'ACTIVE');
  const kinds = (await ok('query ($id: ID!) { endpoint(id: $id) { events { kind messageId } } }', { id: endpointId })).endpoint.events;
  expect(kinds).toEqual([
    { kind: 'ON_FAILURE', messageId },
    { kind: 'ON_FAILURE_RECOVERED', messageId },
  ]);
  // The original run, superseded, posts nothing more.
  const original = await stack.temporal.workflow.getHandle(`deliver-${messageId}`).result();
  expect(original.deliveries[0].status).toBe('SUPERSEDED');
});

describe('a lost endpoint workflow resumes with its failing deliveries, so that their recovery makes the endpoint ACTIVE again', () => {
  const SLOW_RETRIES = { retriesUntilFailure: 1, maxRetries: 10, initialIntervalMs: 2_000, backoffCoefficient: 1, maxIntervalMs: 2_000, jitter: 0 };
  const events = async (id: string) =>
    (await ok('query ($id: ID!) { endpoint(id: $id) { events { id kind messageId } } }', { id })).endpoint.events.map(
      (e: { id: string; kind: string; messageId: string }) => ({ ...e, id: e.id.slice(e.id.lastIndexOf(':') + 1) }),
    );

  async function failingEndpointWithLostWorkflow() {
    const state = { failing: true };
    const r = await receiver((req, i, res) => answer(state.failing ? 500 : 202)(req, i, res));
    const endpointId = await createEndpoint({ url: r.url, retryPolicy: SLOW_RETRIES });
    const messageId = await send({ eventType: 'a.b', payload: {} });
    await eventually(async () => (await endpointStatus(endpointId)) === 'FAILING' || undefined, 15_000, 'FAILING');
    await stack.temporal.workflow.getHandle(endpointWorkflowId(endpointId)).terminate('test: lose the lifecycle workflow');
    return { state, endpointId, messageId };
  }

  test('started again by maintenance', async () => {
    const { state, endpointId, messageId } = await failingEndpointWithLostWorkflow();
    const report = await stack.runMaintenance({ asOf: Date.now() });
    expect(report.counts.endpointWorkflowsStarted).toBe(1);
    const resumed = await stack.temporal.workflow.getHandle(endpointWorkflowId(endpointId)).query(lifecycleStateQuery);
    expect(resumed).toMatchObject({ status: 'FAILING', eventCount: 1 });
    expect(Object.keys(resumed.failing)).toEqual([messageId]);
    state.failing = false;
    await eventually(async () => (await endpointStatus(endpointId)) === 'ACTIVE' || undefined, 15_000, 'ACTIVE');
    expect(await events(endpointId)).toEqual([
      { id: '1', kind: 'ON_FAILURE', messageId },
      { id: '2', kind: 'ON_FAILURE_RECOVERED', messageId },
    ]);
  });

  test("started again by the delivery's recovery report", async () => {
    const { state, endpointId, messageId } = await failingEndpointWithLostWorkflow();
    state.failing = false;
    await eventually(async () => (await deliveryRow(messageId, endpointId))?.status === 'SUCCEEDED' || undefined, 15_000, 'SUCCEEDED');
    await eventually(async () => (await endpointStatus(endpointId)) === 'ACTIVE' || undefined, 15_000, 'ACTIVE');
    expect(await events(endpointId)).toEqual([
      { id: '1', kind: 'ON_FAILURE', messageId },
      { id: '2', kind: 'ON_FAILURE_RECOVERED', messageId },
    ]);
  });
});
