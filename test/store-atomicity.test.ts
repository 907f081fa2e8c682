import { randomUUID } from 'node:crypto';
import { connectMongo, type Mongo } from '../src/db/mongo';
import { createStore } from '../src/store';
import type { DeliveryDoc } from '../src/db/types';

/**
 * The delivery core relies on MongoDB's atomic single-document writes: an `$inc` that allocates an
 * attempt number must never be lost to a concurrent `$set`, and a conditional update must act on the
 * state it matched. The embedded FerretDB is patched to keep that promise (src/dev/tools.ts).
 */
let mongo: Mongo;
beforeAll(async () => {
  mongo = await connectMongo(process.env.TEST_MONGODB_URI!, `hookflow_atomic_${randomUUID().slice(0, 8)}`);
});
afterAll(async () => {
  await mongo.db.dropDatabase();
  await mongo.close();
});

const row = (id: string): DeliveryDoc => ({
  _id: id,
  tenantId: 't',
  messageId: 'm',
  endpointId: 'e',
  status: 'PENDING',
  eventType: 'a.b',
  messageCreatedAt: new Date(),
  occurredAt: new Date(),
  workflowId: 'owner',
  attemptCount: 0,
  lastAttemptAt: null,
  createdAt: new Date(),
  updatedAt: new Date(),
});

test('concurrent attempt allocations and status writes on one delivery lose no increment and never share a number', async () => {
  const store = createStore(mongo.collections);
  await mongo.collections.deliveries.insertOne(row('d1'));
  const allocations = Array.from({ length: 60 }, () => store.deliveries.startAttempt('d1', 'owner', false));
  const statusWrites = Array.from({ length: 60 }, (_, i) => store.deliveries.setOwnedStatus('d1', 'owner', i % 2 ? 'FAILING' : 'PENDING'));
  const [seqs] = await Promise.all([Promise.all(allocations), Promise.all(statusWrites)]);
  const numbers = seqs.map((s) => ('seq' in s ? s.seq : -1));
  expect(new Set(numbers).size).toBe(60);
  expect(Math.min(...numbers)).toBe(0);
  expect((await mongo.collections.deliveries.findOne({ _id: 'd1' }))!.attemptCount).toBe(60);
});

test('a takeover by another run fences the owner: its later writes do not land', async () => {
  const store = createStore(mongo.collections);
  await mongo.collections.deliveries.insertOne(row('d2'));
  const [handed] = await Promise.all([store.deliveries.handToRedelivery(['d2'], 'redeliver-e'), store.deliveries.setOwnedStatus('d2', 'owner', 'FAILING')]);
  expect(handed).toBe(1);
  expect(await store.deliveries.startAttempt('d2', 'owner', false)).toEqual({ why: 'superseded', owner: 'redeliver-e' });
  expect(await store.deliveries.setOwnedStatus('d2', 'owner', 'SUCCEEDED')).toBe(false);
  expect((await mongo.collections.deliveries.findOne({ _id: 'd2' }))!).toMatchObject({ status: 'PARKED', workflowId: 'redeliver-e' });
});
