import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { EndpointDoc, MessageDoc } from './db/types';
import { endpointWorkflowId } from '../workflows/definitions';
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

/** Starts a message's delivery workflow, `deliver-<message id>`, unless it already ran. */
export function startMessageWorkflow(temporal: Client, taskQueue: string, message: MessageDoc): Promise<boolean> {
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
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: TENANT_ID, value: message.tenantId },
        { key: EVENT_TYPE, value: message.eventType },
        { key: ENDPOINT_IDS, value: message.endpointIds },
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
