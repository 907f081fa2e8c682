/** Plain-JSON types shared by the delivery workflow, its activities and the API. Pure. */
import type { RetryPolicy } from './retry-schedule';

export type EndpointStatus = 'ACTIVE' | 'FAILING' | 'DISABLED';
export type DeliveryStatus = 'PENDING' | 'SUCCEEDED' | 'FAILING' | 'PARKED' | 'EXHAUSTED' | 'CANCELLED';

export interface DeliverMessageInput {
  tenantId: string;
  messageId: string;
  eventType: string;
  endpointIds: string[];
}

export interface AttemptDeliveryInput {
  messageId: string;
  endpointId: string;
  /** Retry number within this run: 0 for the first try. */
  number: number;
  /** Attempt sequence across runs of this delivery; makes the attempt's id. */
  seq: number;
  workflowId: string;
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
  | 'network';

export type AttemptOutcome =
  | { kind: 'acknowledged'; statusCode: number }
  | {
      kind: 'failed';
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
  | { kind: 'gone'; why: string };

export interface DeliveryResult {
  endpointId: string;
  status: DeliveryStatus;
  attempts: number;
}

/** A parked delivery to resume, in the order its event happened. */
export interface ParkedDelivery {
  messageId: string;
  attemptCount: number;
}

export interface DeliverMessageResult {
  messageId: string;
  deliveries: DeliveryResult[];
}
