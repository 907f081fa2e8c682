/**
 * Retry policy of an endpoint and the delay before each retry. Pure: the delivery workflow and the
 * API both use it, so it must stay free of I/O and Node built-ins.
 */
export interface RetryPolicy {
  /** Retries (the first try not counted) after which a delivery counts as failing. */
  retriesUntilFailure: number;
  /** Retries after which a delivery is exhausted. */
  maxRetries: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maxIntervalMs: number;
  /** Fraction (0..1) by which each delay may be shortened at random. */
  jitter: number;
}

/**
 * Eight retries spread over about a day: 1 min, 4 min, 16 min, 64 min, 4 h 16 min, then 6 h three
 * times (23 h 41 min in all before jitter). The early retries catch a blip or a deploy, the late ones
 * an outage of a working day, in the spirit of the Standard Webhooks and OneStock schedules.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retriesUntilFailure: 3,
  maxRetries: 8,
  initialIntervalMs: 60_000,
  backoffCoefficient: 4,
  maxIntervalMs: 6 * 60 * 60_000,
  jitter: 0.1,
};

/** The scheduled delay before retry number `retry` (1 = the first retry); see delivery-decision.ts for Retry-After. */
export function retryDelayMs(policy: RetryPolicy, retry: number, random: number): number {
  const exponential = policy.initialIntervalMs * Math.pow(policy.backoffCoefficient, Math.max(0, retry - 1));
  const capped = Math.min(exponential, policy.maxIntervalMs);
  return Math.round(capped * (1 - policy.jitter * random));
}

/** The whole schedule without jitter, for documentation and tests. */
export function retrySchedule(policy: RetryPolicy): number[] {
  return Array.from({ length: policy.maxRetries }, (_, i) => retryDelayMs({ ...policy, jitter: 0 }, i + 1, 0));
}
