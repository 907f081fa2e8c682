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
/** How many inputs the endpoint's workflow has received and not yet applied (0: its state is current). */
export const lifecyclePendingQuery = defineQuery<number>('lifecyclePending');
/** disableEndpoint and reactivateEndpoint: validated before anything is written, answered with the new state. */
export const disableUpdate = defineUpdate<LifecycleState, [{ by: string }]>('disable');
export const reactivateUpdate = defineUpdate<LifecycleState, [{ by: string }]>('reactivate');

/** A keyed message's turn has come at one endpoint (from its key's sequence). */
export const proceedSignal = defineSignal<[{ endpointId: string }]>('proceed');
/** A message joins its ordering key's sequence, at the end of each endpoint's queue. */
export const enqueueSignal = defineSignal<[{ messageId: string; eventType: string; endpointIds: string[] }]>('enqueue');
/** A keyed message's delivery to one endpoint ended: acknowledged, or cancelled with its endpoint. */
export const sequenceFinishedSignal = defineSignal<[{ messageId: string; endpointId: string }]>('finished');
export const sequenceStateQuery = defineQuery<SequenceState>('sequenceState');

/** Per endpoint, the key's messages in the order they were accepted; the first is the one whose turn it is. */
export interface SequenceState {
  queues: Record<string, string[]>;
  /** The first message of each queue has been told to proceed. */
  granted: Record<string, boolean>;
  eventTypes: Record<string, string>;
  /** Messages that finished lately, so that a repeated enqueue or finish changes nothing. */
  finished: string[];
}

export interface OrderMessagesInput {
  tenantId: string;
  orderingKey: string;
  /** How long the sequence waits with nothing queued before it completes (HOOKFLOW_ORDERING_KEY_IDLE). */
  idleMs?: number;
  /** Carried over by continue-as-new. */
  state?: SequenceState;
}

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
