/**
 * The one rule that decides what follows an attempt. Pure: the delivery workflow uses it to choose
 * its next step, and the attempt activity uses it to store the delivery's status, so the two never
 * disagree. The first try is retry 0.
 */
import type { DeliveryStatus } from './delivery-types';
import { retryDelayMs, type RetryPolicy } from './retry-schedule';

export interface AttemptVerdict {
  acknowledged: boolean;
  statusCode: number | null;
  /** From a Retry-After header, when the receiver sent one. */
  retryAfterMs?: number;
}

export type NextStep =
  | { kind: 'done'; status: Extract<DeliveryStatus, 'SUCCEEDED'> }
  /** Wait `delayMs`, then try again. `raiseFailing`: this retry is the one that makes the delivery count as failing. */
  | { kind: 'retry'; status: Extract<DeliveryStatus, 'PENDING' | 'FAILING'>; delayMs: number; raiseFailing: boolean }
  /** Retries exhausted, or 410 Gone: the endpoint is disabled and the delivery parked until reactivation. */
  | { kind: 'exhausted'; status: Extract<DeliveryStatus, 'PARKED'>; gone: boolean; raiseFailing: boolean };

/** Receivers that may say when to come back; any other status's Retry-After is ignored. */
const RETRY_AFTER_STATUSES = new Set([429, 503]);

/**
 * `retry` is the number of the attempt just made (0 = first try); `random` in [0, 1) draws the jitter.
 * on_failure is raised exactly at retry `retriesUntilFailure`, also when that is the last one.
 */
export function decideNextStep(policy: RetryPolicy, retry: number, verdict: AttemptVerdict, random: number): NextStep {
  if (verdict.acknowledged) return { kind: 'done', status: 'SUCCEEDED' };
  const gone = verdict.statusCode === 410;
  const raiseFailing = !gone && retry === policy.retriesUntilFailure;
  if (gone || retry >= policy.maxRetries) return { kind: 'exhausted', status: 'PARKED', gone, raiseFailing };
  return {
    kind: 'retry',
    status: retry >= policy.retriesUntilFailure ? 'FAILING' : 'PENDING',
    delayMs: nextDelayMs(policy, retry + 1, verdict, random),
    raiseFailing,
  };
}

/**
 * The policy's delay before retry number `nextRetry`. A Retry-After on 429 or 503 can only lengthen it
 * (up to the policy's maximum interval): a `Retry-After: 0` from a proxy must not burn every retry.
 */
function nextDelayMs(policy: RetryPolicy, nextRetry: number, verdict: AttemptVerdict, random: number): number {
  const scheduled = retryDelayMs(policy, nextRetry, random);
  const asked = verdict.statusCode !== null && RETRY_AFTER_STATUSES.has(verdict.statusCode) ? verdict.retryAfterMs : undefined;
  if (asked === undefined) return scheduled;
  return Math.max(scheduled, Math.min(asked, policy.maxIntervalMs));
}
