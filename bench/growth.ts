/**
 * Growth: how the history query and a retention pass cost as the stored messages grow. Messages are
 * seeded straight into the API's database (each with its delivery row and one attempt, as a delivered
 * message has), half of them past the retention; then the query runs through the GraphQL API and the
 * retention pass runs the maintenance workflow's own step until nothing is left to delete.
 */
import { createStore } from '../src/store';
import type { Client } from '@temporalio/client';
import pino from 'pino';
import { createMaintenanceActivities } from '../activities/maintenance';
import type { Collections } from '../src/db/mongo';
import { attemptId, type AttemptDoc, type DeliveryDoc, type MessageDoc } from '../src/db/types';
import { newDeliveryRows } from '../src/store/deliveries';
import { deliverMessageWorkflowId } from '../workflows/definitions';
import { RETENTION_BATCH } from '../workflows/maintenance-types';
import { gql, type Hookflow } from '../chaos/harness';
import { median } from './stats';

const DAY = 24 * 3600 * 1000;
const RETENTION_MS = 7 * DAY;
const TYPES = ['growth.a', 'growth.b', 'growth.c', 'growth.d'];
const INSERT_CHUNK = 1000;

export interface GrowthPoint {
  storedMessages: number;
  seedSeconds: number;
  /** Median of 5 runs, milliseconds: first page (50) of one event type created in the last 3 days. */
  queryByTypeMs: number;
  /** The same query asking for totalCount too, which counts every match. */
  queryByTypeWithCountMs: number;
  /** `message(id)`: one `_id` lookup, what every delivery attempt does twice. */
  messageByIdMs: number;
  /** The same through the deliveries collection: one endpoint's messages created in the last 3 days. */
  queryByEndpointMs: number;
  /** The second page of the by-type query, from the first page's cursor. */
  secondPageMs: number;
  retentionDeleted: number;
  retentionSeconds: number;
  retentionBatches: number;
}

const QUERY = `query ($filter: MessageFilter, $after: String) {
  messages(filter: $filter, first: 50, after: $after) { nodes { id } pageInfo { endCursor hasNextPage } }
}`;
const COUNTED = `query ($filter: MessageFilter) { messages(filter: $filter, first: 50) { nodes { id } totalCount } }`;
const BY_ID = `query ($id: ID!) { message(id: $id) { id eventType } }`;

/** Inserts `count` delivered messages numbered from `from`; message n is expired when n is even. */
async function seed(db: Collections, tenantId: string, endpointId: string, from: number, count: number, say: (line: string) => void): Promise<void> {
  const now = Date.now();
  for (let start = from; start < from + count; start += INSERT_CHUNK) {
    const messages: MessageDoc[] = [];
    const deliveries: DeliveryDoc[] = [];
    const attempts: AttemptDoc[] = [];
    for (let n = start; n < Math.min(from + count, start + INSERT_CHUNK); n++) {
      // Expired ones spread over days 8 to 14, live ones over the last 6 days; both interleave by n.
      const age = n % 2 === 0 ? 8 * DAY + ((n * 7919) % (6 * DAY)) : (n * 7919) % (6 * DAY);
      const createdAt = new Date(now - age);
      const id = `msg_g${String(n).padStart(8, '0')}`;
      const message: MessageDoc = {
        _id: id,
        tenantId,
        eventType: TYPES[n % TYPES.length]!,
        payload: { n, note: 'seeded by npm run bench' },
        occurredAt: createdAt,
        createdAt,
        idempotencyKey: null,
        endpointIds: [endpointId],
        workflowId: deliverMessageWorkflowId(id),
      };
      const delivery = { ...newDeliveryRows(message)[0]!, status: 'SUCCEEDED' as const, attemptCount: 1, lastAttemptAt: createdAt };
      messages.push(message);
      deliveries.push(delivery);
      attempts.push({
        _id: attemptId(delivery._id, 0),
        tenantId,
        messageId: id,
        endpointId,
        deliveryId: delivery._id,
        seq: 0,
        number: 0,
        workflowId: message.workflowId,
        startedAt: createdAt,
        durationMs: 3,
        statusCode: 202,
        responseBody: '',
        error: null,
        succeeded: true,
      });
    }
    await db.deliveries.insertMany(deliveries, { ordered: false });
    await db.attempts.insertMany(attempts, { ordered: false });
    await db.messages.insertMany(messages, { ordered: false });
    const done = start + messages.length - from;
    if (done % 10_000 === 0 || done === count) say(`seeded ${done} of ${count} messages`);
  }
}

async function timed<T>(run: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await run();
  return [value, performance.now() - t0];
}

async function medianOf(runs: number, run: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await timed(run))[1]);
  return median(times);
}

/**
 * Measures at `levels` stored messages (ascending; e.g. 10k then 100k). Before each level the store
 * is topped up to that many, half of them expired; the retention pass then deletes the expired half.
 */
export async function measureGrowth(args: {
  hookflow: Hookflow;
  temporal: Client;
  taskQueue: string;
  tenantId: string;
  endpointId: string;
  levels: number[];
  say: (line: string) => void;
  onPoint: (point: GrowthPoint) => void;
}): Promise<GrowthPoint[]> {
  const { hookflow, tenantId, endpointId, say } = args;
  const db = hookflow.mongo.collections;
  const maintenance = createMaintenanceActivities({
    store: createStore(db),
    temporal: args.temporal,
    taskQueue: args.taskQueue,
    log: pino({ level: 'silent' }),
  });
  const points: GrowthPoint[] = [];
  let next = 0;
  for (const level of args.levels) {
    const stored = await db.messages.countDocuments({});
    const [, seedMs] = await timed(() => seed(db, tenantId, endpointId, next, level - stored, say));
    next += level - stored;
    const storedMessages = await db.messages.countDocuments({});
    const createdAfter = new Date(Date.now() - 3 * DAY).toISOString();
    const byType = { eventTypes: ['growth.b'], createdAfter };
    const check = (result: any) => {
      if (result.errors || !result.data?.messages?.nodes?.length) throw new Error(`history query failed: ${JSON.stringify(result).slice(0, 300)}`);
      return result.data.messages;
    };
    say(`${storedMessages} messages stored: timing the history queries`);
    const queryByTypeMs = await medianOf(5, async () => check(await gql(hookflow, QUERY, { filter: byType })));
    const queryByTypeWithCountMs = await medianOf(5, async () => check(await gql(hookflow, COUNTED, { filter: byType })));
    const queryByEndpointMs = await medianOf(5, async () => check(await gql(hookflow, QUERY, { filter: { endpointId, createdAfter } })));
    const someId = `msg_g${String(next - 1).padStart(8, '0')}`;
    const messageByIdMs = await medianOf(5, async () => {
      const result = await gql(hookflow, BY_ID, { id: someId });
      if (result.data?.message?.id !== someId) throw new Error(`message(id) failed: ${JSON.stringify(result).slice(0, 300)}`);
    });
    const cursor = check(await gql(hookflow, QUERY, { filter: byType })).pageInfo.endCursor;
    const secondPageMs = await medianOf(5, async () => check(await gql(hookflow, QUERY, { filter: byType, after: cursor })));

    say(`${storedMessages} messages stored: retention pass`);
    let retentionDeleted = 0;
    let retentionBatches = 0;
    const [, retentionMs] = await timed(async () => {
      for (;;) {
        const counts = await maintenance.deleteExpiredBatch({ cutoff: Date.now() - RETENTION_MS, limit: RETENTION_BATCH });
        retentionBatches += 1;
        retentionDeleted += counts.messagesDeleted ?? 0;
        if (retentionBatches % 10 === 0) say(`retention: ${retentionDeleted} deleted in ${retentionBatches} batches`);
        if ((counts.messagesDeleted ?? 0) < RETENTION_BATCH) break;
      }
    });
    const point: GrowthPoint = {
      storedMessages,
      seedSeconds: seedMs / 1000,
      queryByTypeMs,
      queryByTypeWithCountMs,
      messageByIdMs,
      queryByEndpointMs,
      secondPageMs,
      retentionDeleted,
      retentionSeconds: retentionMs / 1000,
      retentionBatches,
    };
    points.push(point);
    args.onPoint(point);
  }
  return points;
}
