import { newDeliveryRows } from '../src/store/deliveries';
import type { MessageDoc } from '../src/db/types';
import { newId } from '../src/ids';
import { deliverMessageWorkflowId, endpointWorkflowId } from '../workflows/definitions';
import { emptyMaintenanceCounts } from '../workflows/maintenance-types';
import { startReceiver, type Receiver } from './helpers/receiver';
import { eventually, startStack, type TestStack } from './helpers/stack';
import { recordHistory } from './helpers/histories';

let stack: TestStack;
let receiver: Receiver;
beforeAll(async () => {
  // Temporal's deadlock detection on, as HOOKFLOW_WORKFLOW_WATCHDOG=true sets it; every other test runs the default (off).
  stack = await startStack({ env: { HOOKFLOW_WORKFLOW_WATCHDOG: 'true' } });
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await stack?.stop();
});

const gqlOk = async (query: string, variables: Record<string, unknown> = {}) => {
  const result = await stack.gql(query, variables);
  expect(result.errors).toBeUndefined();
  return result.data;
};
const gqlAdmin = async (query: string) => {
  const result = await stack.gql(query, {}, stack.adminToken);
  expect(result.errors).toBeUndefined();
  return result.data;
};
const deliveryStatus = async (messageId: string) =>
  (await gqlOk('query ($id: ID!) { message(id: $id) { deliveries { status } } }', { id: messageId })).message.deliveries[0].status;

test('one pass repairs each kind of drift, logs it in maintenanceRuns, and a second pass finds nothing', async () => {
  const { tenantId } = await stack.useNewTenant();
  const created = await gqlOk('mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }', {
    input: { url: receiver.url },
  });
  const endpointId: string = created.createEndpoint.endpoint.id;
  const db = stack.mongo.collections;

  // Drift 1: a message stored with its rows, but the API died before starting its workflow.
  const lostAt = new Date(Date.now() - 5 * 60_000);
  const lostId = newId('msg');
  const lost: MessageDoc = {
    _id: lostId,
    tenantId,
    eventType: 'order.created',
    payload: { lost: true },
    occurredAt: lostAt,
    createdAt: lostAt,
    idempotencyKey: null,
    endpointIds: [endpointId],
    workflowId: deliverMessageWorkflowId(lostId),
  };
  await db.deliveries.insertMany(newDeliveryRows(lost));
  await db.messages.insertOne(lost);

  // Drift 2: rows of a message that was never stored (the API died between the two inserts).
  const neverStored = { ...lost, _id: newId('msg') };
  await db.deliveries.insertMany(newDeliveryRows({ ...neverStored, workflowId: deliverMessageWorkflowId(neverStored._id) }));

  // Drift 3: a delivery whose workflow finished, but whose row still says PENDING.
  const sent = (await gqlOk('mutation { sendMessage(input: { eventType: "order.paid", payload: {} }) { id } }')).sendMessage.id;
  await eventually(async () => (await deliveryStatus(sent)) === 'SUCCEEDED' || undefined, 15_000, 'delivered');
  await stack.temporal.workflow.getHandle(deliverMessageWorkflowId(sent)).result();
  await db.deliveries.updateOne({ messageId: sent }, { $set: { status: 'PENDING' } });

  // Drift 4: the endpoint's status in MongoDB disagrees with its workflow (ACTIVE).
  await db.endpoints.updateOne({ _id: endpointId }, { $set: { status: 'FAILING', failingSince: new Date() } });

  // Drift 5: a second endpoint whose lifecycle workflow is gone.
  const other = await gqlOk('mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }', {
    input: { url: receiver.url, eventTypes: ['never.sent'] },
  });
  const otherId: string = other.createEndpoint.endpoint.id;
  await stack.temporal.workflow.getHandle(endpointWorkflowId(otherId)).terminate('test: lose the lifecycle workflow');

  const asOf = Date.now() + 2 * 60_000;
  const first = await stack.runMaintenance({ asOf });
  expect(first.counts).toEqual({
    ...emptyMaintenanceCounts(),
    messageWorkflowsStarted: 1,
    deliveriesCorrected: 2, // the orphan rows removed, and the stale PENDING corrected
    endpointStatusesCorrected: 1,
    endpointWorkflowsStarted: 1,
  });

  await receiver.waitFor(2);
  expect(receiver.requests.map((r) => r.headers['message-id'])).toContain(lostId);
  await eventually(async () => (await deliveryStatus(lostId)) === 'SUCCEEDED' || undefined, 15_000, 'lost message delivered');
  expect(await deliveryStatus(sent)).toBe('SUCCEEDED');
  expect(await db.deliveries.countDocuments({ messageId: neverStored._id })).toBe(0);
  expect((await gqlOk('query ($id: ID!) { endpoint(id: $id) { status failingSince } }', { id: endpointId })).endpoint).toEqual({
    status: 'ACTIVE',
    failingSince: null,
  });
  expect((await stack.temporal.workflow.getHandle(endpointWorkflowId(otherId)).describe()).status.name).toBe('RUNNING');

  await recordHistory(stack, first.workflowId, 'maintenance-repairs');
  const second = await stack.runMaintenance({ asOf: Date.now() + 2 * 60_000 });
  expect(second.counts).toEqual(emptyMaintenanceCounts());

  const runs = (
    await gqlAdmin(
      '{ maintenanceRuns(first: 2) { id workflowId startedAt finishedAt counts { messageWorkflowsStarted deliveriesCorrected endpointStatusesCorrected endpointWorkflowsStarted messagesDeleted } } }',
    )
  ).maintenanceRuns;
  expect(runs.map((r: { id: string }) => r.id)).toEqual([second.runId, first.runId]);
  expect(runs[1].counts).toEqual({
    messageWorkflowsStarted: 1,
    deliveriesCorrected: 2,
    endpointStatusesCorrected: 1,
    endpointWorkflowsStarted: 1,
    messagesDeleted: 0,
  });
  expect(runs[0].workflowId).toBe(second.workflowId);
});
