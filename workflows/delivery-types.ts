/** Plain-JSON types shared by the delivery workflow, its activities and the API. Pure. */
import type { RetryPolicy } from './retry-schedule';

export type EndpointStatus = 'ACTIVE' | 'FAILING' | 'DISABLED';
/** WAITING: queued behind an earlier message of its ordering key, for this endpoint. */
export type DeliveryStatus = 'WAITING' | 'PENDING' | 'SUCCEEDED' | 'FAILING' | 'PARKED' | 'EXHAUSTED' | 'CANCELLED';

export interface DeliverMessageInput {
  tenantId: string;
  messageId: string;
  eventType: string;
  endpointIds: string[];
  /** Set for a keyed message: each endpoint's delivery waits for its turn from the key's sequence. */
  orderingKey?: string;
}

export interface AttemptDeliveryInput {
  messageId: string;
  endpointId: string;
  /** Retry number within this run: 0 for the first try. The attempt's own number is allocated on the delivery row. */
  number: number;
  /** The run that owns the delivery; an attempt by any other run is refused. */
  workflowId: string;
  /** An endpoint's redelivery takes a PARKED row over with its first attempt. */
  claimParked?: boolean;
  /** Wait inside the activity for an in-flight slot instead of answering `throttled`. */
  waitForSlot?: boolean;
}

/** Why an attempt was not acknowledged; `http_status` carries the code in `statusCode`. */
export type FailureReason =
  | 'http_status'
  | 'timeout'
  | 'connection_refused'
  | 'connection_reset'
  | 'dns'
  | 'tls'
  | 'protocol'
  /** The SSRF guard refused the address the URL resolved to. */
  | 'blocked'
  | 'network'
  /** Our side could not make the request (see failure-types.ts): no request was sent. */
  | 'internal';

export type AttemptOutcome =
  /** `seq`: the attempt's number on the delivery row (absent from results of older versions). */
  | { kind: 'acknowledged'; statusCode: number; seq?: number }
  | {
      kind: 'failed';
      seq?: number;
      reason: FailureReason;
      statusCode: number | null;
      error: string;
      retryAfterMs?: number;
      retryPolicy: RetryPolicy;
    }
  /** The endpoint is disabled: nothing was posted, and the delivery is kept as PARKED. */
  | { kind: 'parked' }
  /** This worker already has the endpoint's maximum of requests in flight: nothing was posted; try again soon. */
  | { kind: 'throttled' }
  /** The endpoint was deleted or the message is gone (retention): nothing left to deliver. */
  | { kind: 'gone'; why: string }
  /** Another run (a resend, the endpoint's redelivery) took the delivery over: this run stops delivering it. */
  | { kind: 'superseded'; owner: string }
  /** The delivery already ended (a retried activity after the attempt was recorded). */
  | { kind: 'finished'; status: DeliveryStatus };

export interface DeliveryResult {
  endpointId: string;
  /** SUPERSEDED: a resend or the endpoint's redelivery took the delivery over; the row has its status. */
  status: DeliveryStatus | 'SUPERSEDED';
  attempts: number;
}

/** A parked delivery to resume, in the order its event happened. */
export interface ParkedDelivery {
  messageId: string;
  orderingKey: string | null;
}

export interface DeliverMessageResult {
  messageId: string;
  deliveries: DeliveryResult[];
}
