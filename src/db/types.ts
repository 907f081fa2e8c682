import type { RetryPolicy } from '../../workflows/retry-schedule';
import type { DeliveryStatus, EndpointStatus } from '../../workflows/delivery-types';
import type { EndpointEventKind } from '../../workflows/endpoint-lifecycle';

/**
 * Documents as stored in MongoDB. Ids are prefixed strings (`ep_…`, `msg_…`), never ObjectIds, so
 * that they pass unchanged through GraphQL and Temporal payloads. Hot paths read by `_id`.
 */
export interface TenantDoc {
  _id: string;
  name: string;
  createdAt: Date;
}

/** `_id` is the SHA-256 of the key, so authenticating a request is one `_id` lookup. */
export interface ApiKeyDoc {
  _id: string;
  /** The public name of the key (`key_…`), for listing and revoking it; the key itself is not stored. */
  keyId: string;
  tenantId: string;
  createdAt: Date;
  revokedAt?: Date;
}

export interface EndpointDoc {
  _id: string;
  tenantId: string;
  url: string;
  eventTypes: string[];
  description: string | null;
  /** Signing secrets, sealed (src/secret-box.ts): the current one first; a rotated one until it expires. */
  secrets: SealedSecret[];
  retryPolicy: RetryPolicy;
  notifyEmails: string[];
  notifyPhones: string[];
  /** Written by the endpoint's lifecycle workflow, which owns it; the API only reads it. */
  status: EndpointStatus;
  failingSince: Date | null;
  disabledAt: Date | null;
  /** Set by deleteEndpoint; a deleted endpoint is NOT_FOUND but its history still names it. */
  deletedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface SealedSecret {
  sealed: string;
  /** null for the current secret; when a rotated one stops signing. */
  expiresAt: Date | null;
}

/** A lifecycle event an endpoint raised; `_id` is `${endpointId}:${n}`, so recording it twice is harmless. */
export interface EndpointEventDoc {
  _id: string;
  endpointId: string;
  tenantId: string;
  kind: EndpointEventKind;
  at: Date;
  reason: string;
  messageId: string | null;
  attempts: number | null;
  error: string | null;
}

/** One notification sent; `_id` is `${eventId}:${channel}:${recipient}`, so a retried activity sends it once. */
export interface NotificationDoc {
  _id: string;
  sentAt: Date;
}

export interface MessageDoc {
  _id: string;
  tenantId: string;
  eventType: string;
  payload: unknown;
  occurredAt: Date;
  createdAt: Date;
  idempotencyKey: string | null;
  /** The endpoints the message was routed to when it was accepted. */
  endpointIds: string[];
  workflowId: string;
  /** Messages of one key are posted to each endpoint one at a time, in the order they were accepted. Absent on messages stored before keys existed. */
  orderingKey?: string | null;
}

/**
 * `_id` is `${messageId}:${endpointId}`: one delivery per message and endpoint, created with the message.
 * It repeats the message's event type and times, so that history queries filtered by endpoint or status
 * are served by this collection's indexes alone.
 */
export interface DeliveryDoc {
  _id: string;
  tenantId: string;
  messageId: string;
  endpointId: string;
  status: DeliveryStatus;
  eventType: string;
  /** The message's createdAt: history pages are ordered by it. */
  messageCreatedAt: Date;
  /** When the message's event happened: parked deliveries are resumed in this order. */
  occurredAt: Date;
  workflowId: string;
  attemptCount: number;
  lastAttemptAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** The message's ordering key, if any. */
  orderingKey?: string | null;
  /** A keyed delivery handed to a resend or a recovery: posted on its own, outside its key's sequence. */
  outsideSequence?: boolean;
}

export type DeliveryView = DeliveryDoc;

/** One run of the maintenance workflow; `_id` is its workflow run id. */
export interface MaintenanceRunDoc {
  _id: string;
  workflowId: string;
  startedAt: Date;
  finishedAt: Date;
  counts: Record<string, number>;
}

/**
 * `_id` is `${deliveryId}:${seq}`, where seq counts every attempt of the delivery across workflow
 * runs (a redelivery after reactivation continues it), so recording the same attempt twice overwrites it.
 */
export interface AttemptDoc {
  _id: string;
  tenantId: string;
  messageId: string;
  endpointId: string;
  deliveryId: string;
  seq: number;
  /** Retry number within its run: 0 is the first try. */
  number: number;
  workflowId: string;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  responseBody: string | null;
  error: string | null;
  succeeded: boolean;
}

export const deliveryId = (messageId: string, endpointId: string) => `${messageId}:${endpointId}`;
export const attemptId = (deliveryIdValue: string, seq: number) => `${deliveryIdValue}:${seq}`;
