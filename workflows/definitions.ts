/** Workflow ids, signals, queries and updates: shared by the workflows and the API that talks to them. */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { LifecycleInput, LifecycleState } from './endpoint-lifecycle';

/** The delivery of a message: derived from the message id, so it can start only once. */
export const deliverMessageWorkflowId = (messageId: string) => `deliver-${messageId}`;
/** The long-lived workflow that owns an endpoint's lifecycle state. */
export const endpointWorkflowId = (endpointId: string) => `endpoint-${endpointId}`;
/** The one workflow that owns an endpoint's undelivered messages: parked, recovered and resent ones. */
export const redeliverWorkflowId = (endpointId: string) => `redeliver-${endpointId}`;
/** The notifications of one lifecycle event: they outlive the lifecycle run that raised it. */
export const notifyWorkflowId = (eventId: string) => `notify-${eventId}`;
/** The scheduled maintenance: retention and reconciliation. */
export const MAINTENANCE_SCHEDULE_ID = 'hookflow-maintenance';

/** Failures, recoveries and exhaustion from deliveries. */
export const lifecycleSignal = defineSignal<[LifecycleInput]>('lifecycle');
/**
 * An operator's reactivation, from the Temporal Web UI or `temporal workflow signal --name reactivate
 * --input '{"by":"alice"}'`: the same as the reactivateEndpoint mutation, without an answer.
 */
export const reactivateSignal = defineSignal<[{ by?: string } | undefined]>('reactivate');
/** The endpoint was deleted: its lifecycle workflow ends. */
export const endpointDeletedSignal = defineSignal('endpointDeleted');
export const lifecycleStateQuery = defineQuery<LifecycleState>('lifecycleState');
/** disableEndpoint and reactivateEndpoint: validated before anything is written, answered with the new state. */
export const disableUpdate = defineUpdate<LifecycleState, [{ by: string }]>('disable');
export const reactivateUpdate = defineUpdate<LifecycleState, [{ by: string }]>('reactivate');

/** Stops a message's pending delivery to one endpoint (the endpoint was deleted). */
export const cancelDeliverySignal = defineSignal<[{ endpointId: string }]>('cancelDelivery');
/** Hands messages to an endpoint's redelivery (none: just look for parked ones). */
export const redeliverSignal = defineSignal<[{ messageIds: string[] }]>('redeliver');

export interface EndpointLifecycleInput {
  endpointId: string;
  tenantId: string;
  /** Carried over by continue-as-new. */
  state?: LifecycleState;
  pending?: LifecycleInput[];
  deleted?: boolean;
}

export interface RedeliverEndpointInput {
  endpointId: string;
  tenantId: string;
  /** Carried over by continue-as-new: messages handed over and not yet parked. */
  handed?: string[];
  deliveredBefore?: number;
}
