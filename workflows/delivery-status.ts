import type { RetryPolicy } from './retry-schedule';
import type { DeliveryStatus } from './delivery-types';

/**
 * The status a delivery has after attempt `number` (0 = first try). Pure. A delivery that exhausts its
 * retries, or meets 410 Gone, disables its endpoint and is kept as PARKED until reactivation.
 */
export function deliveryStatusAfterAttempt(policy: RetryPolicy, number: number, acknowledged: boolean, statusCode: number | null): DeliveryStatus {
  if (acknowledged) return 'SUCCEEDED';
  if (statusCode === 410 || number >= policy.maxRetries) return 'PARKED';
  if (number >= policy.retriesUntilFailure) return 'FAILING';
  return 'PENDING';
}
