import type { RetryPolicy } from './retry-schedule';
import type { DeliveryStatus } from './delivery-types';

/** The status a delivery has after attempt `number` (0 = first try). Pure. */
export function deliveryStatusAfterAttempt(policy: RetryPolicy, number: number, acknowledged: boolean): DeliveryStatus {
  if (acknowledged) return 'SUCCEEDED';
  if (number >= policy.maxRetries) return 'EXHAUSTED';
  if (number >= policy.retriesUntilFailure) return 'FAILING';
  return 'PENDING';
}
