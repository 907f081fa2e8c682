import { createMessageService } from '../src/messages';
import { emptyMaintenanceCounts } from '../workflows/maintenance-types';
import { startReceiver, type Receiver } from './helpers/receiver';
import { eventually, startStack, type TestStack } from './helpers/stack';

let stack: TestStack;
let receiver: Receiver;
beforeAll(async () => {
  stack = await startStack();
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await stack?.stop();
});

const DAY = 24 * 60 * 60_000;

test('one maintenance pass deletes exactly the messages past retention, with their deliveries and attempts, and logs a parked one', async () => {
  const { tenantId } = await stack.useNewTenant();
  const db = stack.mongo.collections;
  const { services } = stack;
  const live = (await services.endpoints.create(tenantId, { url: receiver.url, eventTypes: ['kept.or.not'] })).endpoint;
  const disabled = (await services.endpoints.create(tenantId, { url: receiver.url, eventTypes: ['parked.one'] })).endpoint;
  await services.endpoints.disable(tenantId, disabled._id);

  // A clock set eight days back, instead of waiting eight days.
  const eightDaysAgo = new Date(Date.now() - 8 * DAY);
  const past = createMessageService({
    db,
    endpoints: services.endpoints,
    temporal: stack.temporal,
    taskQueue: stack.taskQueue,
    maxPayloadBytes: 1 << 18,
    now: () => eightDaysAgo,
  });
  const old = [];
  for (let i = 0; i < 3; i++) old.push(await past.send(tenantId, { eventType: 'kept.or.not', payload: { old: i } }));
  const oldParked = await past.send(tenantId, { eventType: 'parked.one', payload: { old: 'parked' } });
  const fresh = [];
  for (let i = 0; i < 2; i++) fresh.push(await services.messages.send(tenantId, { eventType: 'kept.or.not', payload: { fresh: i } }));

  await receiver.waitFor(5);
  await eventually(async () => (await db.deliveries.countDocuments({ endpointId: live._id, status: 'SUCCEEDED' })) === 5 || undefined, 15_000, 'delivered');
  await eventually(async () => (await db.deliveries.findOne({ messageId: oldParked._id }))?.status === 'PARKED' || undefined, 15_000, 'parked');
  expect(await db.attempts.countDocuments({ messageId: { $in: old.map((m) => m._id) } })).toBe(3);

  const report = await stack.runMaintenance({ retentionMs: 7 * DAY });
  expect(report.counts).toEqual({ ...emptyMaintenanceCounts(), messagesDeleted: 4, deliveriesDeleted: 4, attemptsDeleted: 3, parkedExpired: 1 });

  const remaining = await db.messages.find({ tenantId }).toArray();
  expect(remaining.map((m) => m._id).sort()).toEqual(fresh.map((m) => m._id).sort());
  expect(await db.deliveries.countDocuments({ messageId: { $in: [...old, oldParked].map((m) => m._id) } })).toBe(0);
  expect(await db.attempts.countDocuments({ messageId: { $in: old.map((m) => m._id) } })).toBe(0);
  expect(await db.attempts.countDocuments({ messageId: { $in: fresh.map((m) => m._id) } })).toBe(2);

  const events = (await stack.gql('query ($id: ID!) { endpoint(id: $id) { events { kind messageId reason } } }', { id: disabled._id })).data.endpoint.events;
  expect(events.map((e: { kind: string }) => e.kind)).toEqual(['ON_DEACTIVATION', 'PARKED_MESSAGE_EXPIRED']);
  expect(events[1]).toMatchObject({ messageId: oldParked._id, reason: expect.stringMatching(/deleted by retention/) });

  const again = await stack.runMaintenance({ retentionMs: 7 * DAY });
  expect(again.counts).toEqual(emptyMaintenanceCounts());
});
