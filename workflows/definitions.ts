/** Workflow ids, signals and queries: shared by the workflows and the API that talks to them. */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { LifecycleInput, LifecycleState } from './endpoint-lifecycle';

/** The delivery of a message: derived from the message id, so it can start only once. */
export const deliverMessageWorkflowId = (messageId: string) => `deliver-${messageId}`;
/** The long-lived workflow that owns an endpoint's lifecycle state. */
export const endpointWorkflowId = (endpointId: string) => `endpoint-${endpointId}`;
/** The delivery of an endpoint's parked messages after its n-th lifecycle event (a reactivation). */
export const redeliverWorkflowId = (endpointId: string, eventNumber: number) => `redeliver-${endpointId}-${eventNumber}`;
/** A resendMessage or recoverEndpoint run; `unique` tells runs apart. */
export const redeliverMessagesWorkflowId = (endpointId: string, unique: string) => `resend-${endpointId}-${unique}`;
/** The scheduled maintenance: retention and reconciliation. */
export const MAINTENANCE_SCHEDULE_ID = 'hookflow-maintenance';

/** Failures, recoveries and exhaustion from deliveries; disable and reactivate from a person. */
export const lifecycleSignal = defineSignal<[LifecycleInput]>('lifecycle');
/** The endpoint was deleted: its lifecycle workflow ends. */
export const endpointDeletedSignal = defineSignal('endpointDeleted');
export const lifecycleStateQuery = defineQuery<LifecycleState>('lifecycleState');

/** Stops a message's pending delivery to one endpoint (the endpoint was deleted). */
export const cancelDeliverySignal = defineSignal<[{ endpointId: string }]>('cancelDelivery');

export interface EndpointLifecycleInput {
  endpointId: string;
  tenantId: string;
  /** Carried over by continue-as-new. */
  state?: LifecycleState;
  pending?: LifecycleInput[];
}

export interface RedeliverParkedInput {
  endpointId: string;
  tenantId: string;
  /** Carried over by continue-as-new. */
  deliveredBefore?: number;
}

export interface RedeliverMessagesInput {
  endpointId: string;
  tenantId: string;
  messageIds: string[];
  reason: string;
}
