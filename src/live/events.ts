/**
 * The live events of what the delivery core records, built where it records them: each call site is
 * one line, `publishLiveEvents(db, …(…))`. Ids derive from what happened, so a retried activity
 * publishes nothing twice.
 */
import { deliveryId, type AttemptDoc, type DeliveryDoc, type EndpointDoc, type MessageDoc } from '../db/types';
import type { DeliveryStatus } from '../../workflows/delivery-types';
import type { RaisedEvent } from '../../workflows/endpoint-lifecycle';
import type { NewLiveEvent } from './types';

/** An attempt as recorded in `attempts`, with the delivery's status after it. */
export function attemptEvent(attempt: AttemptDoc, eventType: string, status: DeliveryStatus): NewLiveEvent {
  return {
    _id: attempt._id,
    type: 'delivery',
    tenantId: attempt.tenantId,
    endpointId: attempt.endpointId,
    messageId: attempt.messageId,
    eventType,
    at: attempt.startedAt,
    status,
    attempt,
  };
}

/** A delivery's status changed without an attempt (parked, cancelled); once per status and workflow run. */
export function deliveryStatusEvent(
  delivery: Pick<DeliveryDoc, 'tenantId' | 'messageId' | 'endpointId' | 'eventType' | 'workflowId'>,
  status: DeliveryStatus,
  at: Date,
): NewLiveEvent {
  return {
    _id: `${deliveryId(delivery.messageId, delivery.endpointId)}:${status}:${delivery.workflowId}`,
    type: 'delivery',
    tenantId: delivery.tenantId,
    endpointId: delivery.endpointId,
    messageId: delivery.messageId,
    eventType: delivery.eventType,
    at,
    status,
    attempt: null,
  };
}

/** The same for a delivery known by its message, as the activities have it. */
export const messageDeliveryStatusEvent = (message: MessageDoc, endpointId: string, status: DeliveryStatus, workflowId: string, at: Date): NewLiveEvent =>
  deliveryStatusEvent({ tenantId: message.tenantId, messageId: message._id, endpointId, eventType: message.eventType, workflowId }, status, at);

/** Lifecycle events as saveLifecycle stores them: the live event has the stored event's id. */
export function lifecycleEvents(args: { endpointId: string; tenantId: string; events: RaisedEvent[] }): NewLiveEvent[] {
  return args.events.map((event) => ({
    _id: event.id,
    type: 'endpoint',
    tenantId: args.tenantId,
    endpointId: args.endpointId,
    at: new Date(event.at),
    kind: event.kind,
    reason: event.reason,
    messageId: event.messageId,
    attempts: event.attempts,
    error: event.error,
  }));
}

/** deleteEndpoint: its open deliveries became CANCELLED, then the endpoint itself is gone. */
export function endpointDeletedEvents(
  endpoint: EndpointDoc,
  cancelled: Pick<DeliveryDoc, 'messageId' | 'eventType' | 'workflowId'>[],
  at: Date,
): NewLiveEvent[] {
  return [
    ...cancelled.map((d) => deliveryStatusEvent({ ...d, tenantId: endpoint.tenantId, endpointId: endpoint._id }, 'CANCELLED', at)),
    {
      _id: `${endpoint._id}:deleted`,
      type: 'endpoint',
      tenantId: endpoint.tenantId,
      endpointId: endpoint._id,
      at,
      kind: 'DELETED',
      reason: 'deleted by deleteEndpoint',
      messageId: null,
      attempts: null,
      error: null,
    },
  ];
}
