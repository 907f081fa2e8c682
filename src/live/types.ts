import type { AttemptDoc, EndpointEventDoc } from '../db/types';
import type { DeliveryStatus } from '../../workflows/delivery-types';
import type { EndpointEventKind } from '../../workflows/endpoint-lifecycle';

/** What an endpoint's live stream carries: its stored lifecycle events, and its deletion. */
export type LiveEndpointEventKind = EndpointEventKind | 'DELETED';

interface LiveEventBase {
  /**
   * Unique; derived from what happened where it can be (an attempt's id, a lifecycle event's id), so
   * that an activity retried after it published does not publish the same event twice.
   */
  _id: string;
  tenantId: string;
  endpointId: string;
  /** When it happened. */
  at: Date;
  /** The publisher's clock when it appended the event; bounds the re-read of a resume (see hub.ts). */
  publishedAt: Date;
}

/** An attempt (with the delivery's status after it), or a change of a delivery's status without one. */
export interface LiveDeliveryEvent extends LiveEventBase {
  type: 'delivery';
  messageId: string;
  eventType: string;
  status: DeliveryStatus;
  attempt: AttemptDoc | null;
}

export interface LiveEndpointEvent extends LiveEventBase {
  type: 'endpoint';
  kind: LiveEndpointEventKind;
  reason: string;
  messageId: string | null;
  attempts: number | null;
  error: string | null;
}

/** A document of the capped collection `liveEvents`. */
export type LiveEvent = LiveDeliveryEvent | LiveEndpointEvent;

/** What a publisher hands over; the publish time is stamped by publishLiveEvents. */
export type NewLiveEvent = Omit<LiveDeliveryEvent, 'publishedAt'> | Omit<LiveEndpointEvent, 'publishedAt'>;

/** An endpoint event as GraphQL serves it: stored (Endpoint.events) or live (endpointEvents). */
export type EndpointEventView = EndpointEventDoc | LiveEndpointEvent;
