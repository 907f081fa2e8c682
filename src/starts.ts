import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { EndpointDoc, MessageDoc } from './db/types';
import type { Store } from './store';
import { recordWorkflowStart } from './observability/metrics';
import { endpointWorkflowId, enqueueSignal, proceedSignal, redeliverSignal, redeliverWorkflowId, sequenceFinishedSignal } from '../workflows/definitions';
import type { DeliverMessageInput } from '../workflows/delivery-types';
import type { LifecycleState } from '../workflows/endpoint-lifecycle';
import { DELIVERY_STATUS, ENDPOINT_IDS, EVENT_TYPE, ORDERING_KEY, TENANT_ID } from '../workflows/search-attributes';

/** Starting a workflow whose id is taken is a no-op here: the ids are derived so that it can run once. */
async function once(start: Promise<unknown>): Promise<boolean> {
  try {
    await start;
    return true;
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw error;
  }
}

/**
 * Temporal refuses a search attribute value over 2 KiB. A message routed to many endpoints lists as
 * many ids as fit; the rest are findable through the API (`messages(filter: {endpointId})`).
 */
const SEARCH_ATTRIBUTE_BUDGET = 1900;
export function searchableEndpointIds(endpointIds: string[]): string[] {
  const kept: string[] = [];
  let size = 2;
  for (const id of endpointIds) {
    size += Buffer.byteLength(JSON.stringify(id)) + 1;
    if (size > SEARCH_ATTRIBUTE_BUDGET) break;
    kept.push(id);
  }
  return kept;
}

/**
 * Starts a message's delivery workflow, `deliver-<message id>`, unless it runs or ran. `afterClosedRun`:
 * the message was just stored, so a closed run under its id belongs to an earlier message with the same
 * idempotency key, deleted by retention since, and the new message must be delivered all the same.
 */
export function startMessageWorkflow(
  temporal: Client,
  taskQueue: string,
  message: MessageDoc,
  {
    afterClosedRun = false,
    orderingKeyIdleMs,
    eagerStart = false,
  }: {
    afterClosedRun?: boolean;
    orderingKeyIdleMs?: number;
    /**
     * Ask for eager workflow start: the server hands the first workflow task back in the start's answer,
     * to the worker that shares the client's connection, instead of through matching. Only where the API
     * runs in the worker's process (`npm start`); the server may decline, and the start is then ordinary.
     */
    eagerStart?: boolean;
  } = {},
): Promise<boolean> {
  if (message.orderingKey) return enqueueKeyedMessage(temporal, taskQueue, message, orderingKeyIdleMs).then(() => true);
  return once(
    temporal.workflow
      .start('deliverMessage', {
        taskQueue,
        workflowId: message.workflowId,
        args: [deliverInput(message)],
        workflowIdReusePolicy: afterClosedRun ? 'ALLOW_DUPLICATE' : 'REJECT_DUPLICATE',
        typedSearchAttributes: messageSearchAttributes(message),
        ...(eagerStart ? { requestEagerStart: true } : {}),
      })
      .then((handle) => recordWorkflowStart(handle.eagerlyStarted === true)),
  );
}

const deliverInput = (message: Pick<MessageDoc, 'tenantId' | '_id' | 'eventType' | 'endpointIds' | 'orderingKey'>): DeliverMessageInput => ({
  tenantId: message.tenantId,
  messageId: message._id,
  eventType: message.eventType,
  endpointIds: message.endpointIds,
  ...(message.orderingKey ? { orderingKey: message.orderingKey } : {}),
});

const messageSearchAttributes = (message: Pick<MessageDoc, 'tenantId' | 'eventType' | 'endpointIds' | 'orderingKey'>) => [
  { key: TENANT_ID, value: message.tenantId },
  { key: EVENT_TYPE, value: message.eventType },
  { key: ENDPOINT_IDS, value: searchableEndpointIds(message.endpointIds) },
  { key: DELIVERY_STATUS, value: 'DELIVERING' },
  ...(message.orderingKey ? [{ key: ORDERING_KEY, value: message.orderingKey }] : []),
];

/** The sequence of a tenant's ordering key: the key is hashed, since it may hold any text; it is findable by its search attribute. */
export const orderingWorkflowId = (tenantId: string, orderingKey: string) =>
  `order-${tenantId}-${createHash('sha256').update(orderingKey).digest('hex').slice(0, 32)}`;

/**
 * A keyed message joins its key's sequence (signal-with-start): the order of these signals is the order
 * in which the key's messages were accepted. Its delivery workflow is started by the sequence, when the
 * message's turn comes at its first endpoint. A repeated enqueue changes nothing.
 */
export async function enqueueKeyedMessage(temporal: Client, taskQueue: string, message: MessageDoc, idleMs?: number): Promise<void> {
  await temporal.workflow.signalWithStart('orderMessages', {
    taskQueue,
    workflowId: orderingWorkflowId(message.tenantId, message.orderingKey!),
    args: [{ tenantId: message.tenantId, orderingKey: message.orderingKey!, ...(idleMs === undefined ? {} : { idleMs }) }],
    signal: enqueueSignal,
    signalArgs: [{ messageId: message._id, eventType: message.eventType, endpointIds: message.endpointIds }],
    typedSearchAttributes: [
      { key: TENANT_ID, value: message.tenantId },
      { key: ORDERING_KEY, value: message.orderingKey! },
    ],
  });
}

/** A keyed message's turn at one endpoint: its delivery workflow is told, and started if this is its first turn. */
export async function proceedKeyedMessage(
  temporal: Client,
  taskQueue: string,
  message: Pick<MessageDoc, 'tenantId' | '_id' | 'eventType' | 'endpointIds' | 'orderingKey' | 'workflowId'>,
  endpointId: string,
): Promise<void> {
  await temporal.workflow.signalWithStart('deliverMessage', {
    taskQueue,
    workflowId: message.workflowId,
    args: [deliverInput(message)],
    signal: proceedSignal,
    signalArgs: [{ endpointId }],
    typedSearchAttributes: messageSearchAttributes(message),
  });
}

/** A keyed message's delivery to one endpoint ended: its sequence lets the next one go. */
export async function finishKeyedMessage(temporal: Client, tenantId: string, orderingKey: string, messageId: string, endpointId: string): Promise<void> {
  try {
    await temporal.workflow.getHandle(orderingWorkflowId(tenantId, orderingKey)).signal(sequenceFinishedSignal, { messageId, endpointId });
  } catch (error) {
    // A sequence that has ended has nothing queued: nothing waits for this message.
    if ((error as Error).name !== 'WorkflowNotFoundError') throw error;
  }
}

/** How many failing deliveries a resumed endpoint workflow takes back at most. */
const RESUMED_FAILING_LIMIT = 1000;

/**
 * The lifecycle state MongoDB recorded for an endpoint, from which a lost endpoint workflow resumes:
 * its status and times, the number of lifecycle events recorded (new events are numbered after them),
 * and, for a `FAILING` endpoint, the deliveries that are failing, so that their recovery makes it
 * `ACTIVE` again. Those are the rows in `FAILING`, the rows in flight (`PENDING`) whose attempt is past
 * the endpoint's `retriesUntilFailure`, and `recovering`: the message whose recovery report finds the
 * workflow gone (its row already says `SUCCEEDED`). A `FAILING` endpoint with none of them resumes
 * `ACTIVE`: nothing is left whose recovery could clear it.
 */
export async function recordedLifecycleState(store: Store, endpoint: EndpointDoc, recovering?: string): Promise<LifecycleState> {
  const [eventCount, failingRows] = await Promise.all([
    store.endpointEvents.countLifecycle(endpoint._id),
    endpoint.status === 'FAILING'
      ? store.deliveries.listFailing(endpoint._id, endpoint.retryPolicy.retriesUntilFailure, RESUMED_FAILING_LIMIT)
      : Promise.resolve([]),
  ]);
  const error = 'failing when its endpoint workflow resumed';
  const failing: LifecycleState['failing'] = Object.fromEntries(
    failingRows.map((row) => [row.messageId, { since: (row.lastAttemptAt ?? row.updatedAt).getTime(), attempts: row.attemptCount, error }]),
  );
  if (endpoint.status === 'FAILING' && recovering && !failing[recovering]) {
    failing[recovering] = { since: endpoint.failingSince?.getTime() ?? endpoint.updatedAt.getTime(), attempts: 0, error };
  }
  const stillFailing = endpoint.status === 'FAILING' && Object.keys(failing).length > 0;
  return {
    status: endpoint.status === 'FAILING' && !stillFailing ? 'ACTIVE' : endpoint.status,
    failing,
    failingSince: stillFailing ? (endpoint.failingSince?.getTime() ?? null) : null,
    disabledAt: endpoint.disabledAt?.getTime() ?? null,
    eventCount,
    acknowledged: {},
  };
}

/** Starts an endpoint's lifecycle workflow unless it runs; `state` resumes one that was lost. */
export function startEndpointWorkflow(temporal: Client, taskQueue: string, endpoint: EndpointDoc, state?: LifecycleState): Promise<boolean> {
  return once(
    temporal.workflow.start('endpointLifecycle', {
      taskQueue,
      workflowId: endpointWorkflowId(endpoint._id),
      args: [{ endpointId: endpoint._id, tenantId: endpoint.tenantId, ...(state ? { state } : {}) }],
      typedSearchAttributes: [
        { key: TENANT_ID, value: endpoint.tenantId },
        { key: ENDPOINT_IDS, value: [endpoint._id] },
      ],
    }),
  );
}

/**
 * Hands messages to the endpoint's one redelivery workflow, `redeliver-<endpoint id>`, starting it if it
 * is not running (signal-with-start): every path that redelivers (reactivation, recoverEndpoint,
 * resendMessage, maintenance) goes through it, so an endpoint's parked messages are posted by one run,
 * one at a time, in event order. No messages just wakes it.
 */
export async function startRedelivery(temporal: Client, taskQueue: string, tenantId: string, endpointId: string, messageIds: string[]): Promise<string> {
  const workflowId = redeliverWorkflowId(endpointId);
  await temporal.workflow.signalWithStart('redeliverEndpoint', {
    taskQueue,
    workflowId,
    args: [{ endpointId, tenantId }],
    signal: redeliverSignal,
    signalArgs: [{ messageIds }],
    typedSearchAttributes: [
      { key: TENANT_ID, value: tenantId },
      { key: ENDPOINT_IDS, value: [endpointId] },
      { key: DELIVERY_STATUS, value: 'DELIVERING' },
    ],
  });
  return workflowId;
}
