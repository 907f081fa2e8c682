import { newDeliveryRows } from '../src/store/deliveries';
import type { DeliveryDoc, MessageDoc } from '../src/db/types';
import { deliverMessageWorkflowId } from '../workflows/definitions';
import { answer, startReceiver, type Receiver } from './helpers/receiver';
import { eventually, startStack, type TestStack } from './helpers/stack';
import { recordHistory } from './helpers/histories';

let stack: TestStack;
const receivers: Receiver[] = [];
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await stack?.stop();
});

const gqlOk = async (query: string, variables: Record<string, unknown> = {}) => {
  const result = await stack.gql(query, variables);
  expect(result.errors).toBeUndefined();
  return result.data;
};
const MESSAGES = `query ($filter: MessageFilter, $first: Int, $after: String) {
  messages(filter: $filter, first: $first, after: $after) { nodes { id } pageInfo { endCursor hasNextPage } totalCount }
}`;

/** Reads every page of a listing; inserts `during` rows after the first page, to prove pages are stable. */
async function readAll(filter: Record<string, unknown>, first: number, during?: () => Promise<void>) {
  const ids: string[] = [];
  let after: string | null = null;
  let pages = 0;
  for (;;) {
    const page: any = (await gqlOk(MESSAGES, { filter, first, after })).messages;
    ids.push(...page.nodes.map((n: { id: string }) => n.id));
    pages += 1;
    if (pages === 1 && during) await during();
    if (!page.pageInfo.hasNextPage) return { ids, pages, totalCount: page.totalCount };
    after = page.pageInfo.endCursor;
  }
}

test('paging through 1,000 messages with a filter returns each exactly once, even while new ones arrive', async () => {
  const { tenantId } = await stack.useNewTenant();
  const db = stack.mongo.collections;
  const [even, odd] = [
    (await stack.services.endpoints.create(tenantId, { url: 'http://127.0.0.1:9/even' })).endpoint._id,
    (await stack.services.endpoints.create(tenantId, { url: 'http://127.0.0.1:9/odd' })).endpoint._id,
  ];
  // Rows are written directly: this is a test of the query, and 1,000 deliveries would only slow it.
  const base = Date.parse('2026-03-01T00:00:00Z');
  const messages: MessageDoc[] = Array.from({ length: 1_200 }, (_, i) => {
    const id = `msg_page${String(i).padStart(5, '0')}`;
    // Ten messages share each createdAt: the cursor must break ties by id.
    const createdAt = new Date(base + Math.floor(i / 10) * 1000);
    return {
      _id: id,
      tenantId,
      eventType: i % 6 === 5 ? 'other.type' : 'page.test',
      payload: { i },
      occurredAt: new Date(base - i * 1000),
      createdAt,
      idempotencyKey: null,
      endpointIds: [i % 2 === 0 ? even : odd],
      workflowId: deliverMessageWorkflowId(id),
    };
  });
  await db.messages.insertMany(messages);
  const rows: DeliveryDoc[] = messages.flatMap((m) => newDeliveryRows(m)).map((r, i) => ({ ...r, status: i % 3 === 0 ? 'PARKED' : 'SUCCEEDED' }));
  await db.deliveries.insertMany(rows);
  const wanted = messages.filter((m) => m.eventType === 'page.test');
  expect(wanted).toHaveLength(1_000);

  const insertNewer = async () => {
    const now = new Date();
    await db.messages.insertMany(
      Array.from({ length: 5 }, (_, i) => ({ ...messages[0]!, _id: `msg_newer${i}`, createdAt: now, workflowId: `deliver-msg_newer${i}` })),
    );
  };
  const all = await readAll({ eventTypes: ['page.test'], createdBefore: '2026-03-02T00:00:00Z' }, 137, insertNewer);
  expect(all.ids).toHaveLength(1_000);
  expect(new Set(all.ids).size).toBe(1_000);
  expect(all.pages).toBe(Math.ceil(1_000 / 137));
  expect(all.totalCount).toBe(1_000);
  // Newest first: createdAt descending, then id descending.
  expect(all.ids[0]).toBe('msg_page01198');
  expect(all.ids[all.ids.length - 1]).toBe('msg_page00000');

  // Through the deliveries collection: by endpoint and status.
  const parked = await readAll({ status: 'PARKED', createdAfter: '2026-03-01T00:00:00Z' }, 100);
  const expectedParked = rows.filter((r) => r.status === 'PARKED').map((r) => r.messageId);
  expect(new Set(parked.ids)).toEqual(new Set(expectedParked));
  expect(parked.ids).toHaveLength(expectedParked.length);
  const parkedEven = await readAll({ endpointId: even, status: 'PARKED', eventTypes: ['page.test'] }, 64);
  const expectedEven = rows.filter((r) => r.status === 'PARKED' && r.endpointId === even && r.eventType === 'page.test').map((r) => r.messageId);
  expect(parkedEven.ids.sort()).toEqual(expectedEven.sort());
  expect(parkedEven.totalCount).toBe(expectedEven.length);

  // A time window on occurredAt.
  const window = await readAll({ occurredAfter: new Date(base - 100_000).toISOString(), occurredBefore: new Date(base - 49_000).toISOString() }, 20);
  expect(window.ids.sort()).toEqual(
    messages
      .slice(50, 101)
      .map((m) => m._id)
      .sort(),
  );

  const bad = await stack.gql(MESSAGES, { filter: {}, first: 10, after: 'not-a-cursor' });
  expect(bad.errors![0]!.extensions!.code).toBe('INVALID_CURSOR');
  const tooMany = await stack.gql(MESSAGES, { filter: {}, first: 100_000 });
  expect(tooMany.errors![0]!.extensions!.code).toBe('INVALID_INPUT');
});

test("resendMessage delivers again through the endpoint's redelivery; the attempt log and stats keep both", async () => {
  await stack.useNewTenant();
  const r = await startReceiver();
  receivers.push(r);
  const endpointId = (await gqlOk('mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }', { input: { url: r.url } }))
    .createEndpoint.endpoint.id;
  const messageId = (await gqlOk('mutation { sendMessage(input: { eventType: "invoice.sent", payload: { n: 1 } }) { id } }')).sendMessage.id;
  await r.waitFor(1);
  await eventually(
    async () => (await stack.mongo.collections.deliveries.findOne({ messageId }))?.status === 'SUCCEEDED' || undefined,
    10_000,
    'first delivery',
  );

  const resent = await gqlOk('mutation ($m: ID!, $e: ID!) { resendMessage(messageId: $m, endpointId: $e) { status workflowId } }', {
    m: messageId,
    e: endpointId,
  });
  await r.waitFor(2);
  expect(r.requests.map((q) => q.headers['message-id'])).toEqual([messageId, messageId]);

  const attempts = await eventually(
    async () => {
      const log = (
        await gqlOk('query ($e: ID!) { attempts(endpointId: $e) { nodes { messageId number workflowId succeeded } totalCount } }', { e: endpointId })
      ).attempts;
      return log.totalCount === 2 ? log : undefined;
    },
    10_000,
    'two attempts',
  );
  expect(attempts.nodes.map((a: { workflowId: string }) => a.workflowId)).toEqual([`redeliver-${endpointId}`, deliverMessageWorkflowId(messageId)]);
  expect(resent.resendMessage.workflowId).toMatch(/^(deliver|redeliver)-/);
  await recordHistory(stack, `redeliver-${endpointId}`, 'redeliver-endpoint-resend');
  const stats = (await gqlOk('query ($e: ID!) { endpoint(id: $e) { stats { succeeded failed lastSuccessAt lastFailureAt } } }', { e: endpointId })).endpoint
    .stats;
  expect(stats).toMatchObject({ succeeded: 2, failed: 0, lastFailureAt: null });
  expect(Date.parse(stats.lastSuccessAt)).toBeGreaterThan(Date.now() - 60_000);

  const notRouted = await stack.gql('mutation ($m: ID!, $e: ID!) { resendMessage(messageId: $m, endpointId: $e) { status } }', {
    m: messageId,
    e: 'ep_unknown',
  });
  expect(notRouted.errors![0]!.extensions!.code).toBe('NOT_FOUND');
});

test('recoverEndpoint re-delivers, in event order, what did not succeed while the receiver was down', async () => {
  await stack.useNewTenant();
  const down = await startReceiver();
  const port = down.port;
  await down.close();
  const endpointId = (
    await gqlOk('mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }', {
      input: { url: `http://127.0.0.1:${port}/webhook`, retryPolicy: { initialIntervalMs: 600_000, maxIntervalMs: 600_000 } },
    })
  ).createEndpoint.endpoint.id;
  const since = new Date(Date.now() - 1000).toISOString();
  const ids: string[] = [];
  for (const n of [3, 1, 2]) {
    ids.push(
      (await gqlOk(`mutation { sendMessage(input: { eventType: "stock.changed", payload: { n: ${n} }, occurredAt: "2026-04-01T00:00:0${n}Z" }) { id } }`))
        .sendMessage.id,
    );
  }
  const db = stack.mongo.collections;
  await eventually(async () => (await db.deliveries.countDocuments({ messageId: { $in: ids }, attemptCount: 1 })) === 3 || undefined, 15_000, 'first attempts');
  // During the outage an operator stopped the retrying workflows; reconciliation marks them EXHAUSTED.
  for (const id of ids) await stack.temporal.workflow.getHandle(deliverMessageWorkflowId(id)).terminate('operator: receiver is down');
  const report = await stack.runMaintenance({ asOf: Date.now() + 2 * 60_000 });
  expect(report.counts.deliveriesCorrected).toBe(3);
  expect(await db.deliveries.countDocuments({ messageId: { $in: ids }, status: 'EXHAUSTED' })).toBe(3);

  const back = await startReceiver(answer(202), port);
  receivers.push(back);
  const result = (
    await gqlOk('mutation ($id: ID!, $since: DateTime!) { recoverEndpoint(id: $id, since: $since) { enqueued inFlight truncated workflowId } }', {
      id: endpointId,
      since,
    })
  ).recoverEndpoint;
  expect(result).toEqual({ enqueued: 3, inFlight: 0, truncated: false, workflowId: `redeliver-${endpointId}` });
  await back.waitFor(3);
  expect(back.requests.map((q) => JSON.parse(q.body).data.n)).toEqual([1, 2, 3]);
  await recordHistory(stack, result.workflowId, 'redeliver-endpoint-recover');
  await eventually(
    async () => (await db.deliveries.countDocuments({ messageId: { $in: ids }, status: 'SUCCEEDED' })) === 3 || undefined,
    10_000,
    'all SUCCEEDED',
  );

  const nothing = (
    await gqlOk('mutation ($id: ID!, $since: DateTime!) { recoverEndpoint(id: $id, since: $since) { enqueued workflowId } }', { id: endpointId, since })
  ).recoverEndpoint;
  expect(nothing).toEqual({ enqueued: 0, workflowId: null });
});
