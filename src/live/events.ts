/**
 * The live events of what the delivery core records, built where it records them: each call site is
 * one line, `publishLiveEvents(db, …(…))`. Ids derive from what happened, so a retried activity
 * publishes nothing twice.
 */
import { attemptId, deliveryId, type AttemptDoc, type DeliveryDoc, type EndpointDoc, type MessageDoc } from '../db/types';
import type { DeliveryStatus } from '../../workflows/delivery-types';
import type { AttemptDeliveryInput } from '../../workflows/delivery-types';
import type { RaisedEvent } from '../../workflows/endpoint-lifecycle';
import type { PostResult } from '../webhooks/http-post';
import type { NewLiveEvent } from './types';

/** An attempt as recorded in `attempts`, with the delivery's status after it. */
export function attemptEvent(args: {
  message: MessageDoc;
  endpointId: string;
  input: AttemptDeliveryInput;
  startedAt: Date;
  durationMs: number;
  result: PostResult;
  status: DeliveryStatus;
}): NewLiveEvent {
  const { message, endpointId, input, result } = args;
  const delivery = deliveryId(message._id, endpointId);
  const attempt: AttemptDoc = {
    _id: attemptId(delivery, input.seq),
    tenantId: message.tenantId,
    messageId: message._id,
    endpointId,
    deliveryId: delivery,
    seq: input.seq,
    number: input.number,
    workflowId: input.workflowId,
    startedAt: args.startedAt,
    durationMs: args.durationMs,
    statusCode: result.statusCode,
    responseBody: result.body,
    error: result.ok ? null : result.error,
    succeeded: result.ok,
  };
  return {
    _id: attempt._id,
    type: 'delivery',
    tenantId: message.tenantId,
    endpointId,
    messageId: message._id,
    eventType: message.eventType,
    at: args.startedAt,
    status: args.status,
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
