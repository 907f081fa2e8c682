import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { EndpointDoc, MessageDoc } from './db/types';
import { endpointWorkflowId, redeliverSignal, redeliverWorkflowId } from '../workflows/definitions';
import type { DeliverMessageInput } from '../workflows/delivery-types';
import type { LifecycleState } from '../workflows/endpoint-lifecycle';
import { DELIVERY_STATUS, ENDPOINT_IDS, EVENT_TYPE, TENANT_ID } from '../workflows/search-attributes';

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
export function startMessageWorkflow(temporal: Client, taskQueue: string, message: MessageDoc, afterClosedRun = false): Promise<boolean> {
  const input: DeliverMessageInput = {
    tenantId: message.tenantId,
    messageId: message._id,
    eventType: message.eventType,
    endpointIds: message.endpointIds,
  };
  return once(
    temporal.workflow.start('deliverMessage', {
      taskQueue,
      workflowId: message.workflowId,
      args: [input],
      workflowIdReusePolicy: afterClosedRun ? 'ALLOW_DUPLICATE' : 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: TENANT_ID, value: message.tenantId },
        { key: EVENT_TYPE, value: message.eventType },
        { key: ENDPOINT_IDS, value: searchableEndpointIds(message.endpointIds) },
        { key: DELIVERY_STATUS, value: 'DELIVERING' },
      ],
    }),
  );
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
