import { DEFAULT_RETRY_POLICY, retryDelayMs, retrySchedule } from '../../workflows/retry-schedule';
import { decideNextStep } from '../../workflows/delivery-decision';

test('the default schedule is eight retries over about a day', () => {
  const minutes = retrySchedule(DEFAULT_RETRY_POLICY).map((ms) => ms / 60_000);
  expect(minutes).toEqual([1, 4, 16, 64, 256, 360, 360, 360]);
  const totalHours = minutes.reduce((a, b) => a + b, 0) / 60;
  expect(totalHours).toBeGreaterThan(23);
  expect(totalHours).toBeLessThan(24);
});

test('jitter only shortens a delay, by at most its fraction', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, jitter: 0.1 };
  expect(retryDelayMs(policy, 1, 0)).toBe(60_000);
  expect(retryDelayMs(policy, 1, 1)).toBe(54_000);
  expect(retryDelayMs(policy, 1, 0.5)).toBe(57_000);
});

test('millisecond policies work, for tests and fast receivers', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, initialIntervalMs: 5, backoffCoefficient: 2, maxIntervalMs: 30, jitter: 0 };
  expect(retrySchedule({ ...policy, maxRetries: 5 })).toEqual([5, 10, 20, 30, 30]);
});

const failed = (statusCode: number | null, retryAfterMs?: number) => ({
  acknowledged: false,
  statusCode,
  ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
});

test('a delivery is PENDING, then FAILING after retriesUntilFailure retries, then PARKED after maxRetries or 410 Gone', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, retriesUntilFailure: 2, maxRetries: 4 };
  expect([0, 1, 2, 3, 4].map((n) => decideNextStep(policy, n, failed(500), 0).status)).toEqual(['PENDING', 'PENDING', 'FAILING', 'FAILING', 'PARKED']);
  expect(decideNextStep(policy, 0, failed(410), 0)).toEqual({ kind: 'exhausted', status: 'PARKED', gone: true, raiseFailing: false });
  expect(decideNextStep(policy, 3, { acknowledged: true, statusCode: 202 }, 0)).toEqual({ kind: 'done', status: 'SUCCEEDED' });
});

test('on_failure is raised exactly once, at retry retriesUntilFailure', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, retriesUntilFailure: 2, maxRetries: 4 };
  const raises = (n: number) => {
    const step = decideNextStep(policy, n, failed(500), 0);
    return step.kind !== 'done' && step.raiseFailing;
  };
  expect([0, 1, 2, 3, 4].map(raises)).toEqual([false, false, true, false, false]);
});

test('on_failure is raised before exhaustion when retriesUntilFailure equals maxRetries (defect 8)', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, retriesUntilFailure: 3, maxRetries: 3 };
  expect(decideNextStep(policy, 3, failed(500), 0)).toEqual({ kind: 'exhausted', status: 'PARKED', gone: false, raiseFailing: true });
  expect(decideNextStep({ ...policy, retriesUntilFailure: 0, maxRetries: 0 }, 0, failed(500), 0)).toMatchObject({ kind: 'exhausted', raiseFailing: true });
});

describe('Retry-After (defect 9)', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, initialIntervalMs: 1_000, backoffCoefficient: 2, maxIntervalMs: 60_000, jitter: 0 };
  const delay = (statusCode: number, retryAfterMs?: number) => {
    const step = decideNextStep(policy, 0, failed(statusCode, retryAfterMs), 0);
    if (step.kind !== 'retry') throw new Error(`expected a retry, got ${step.kind}`);
    return step.delayMs;
  };

  test('on 429 and 503 it lengthens the delay, bounded by the maximum interval', () => {
    expect(delay(429, 30_000)).toBe(30_000);
    expect(delay(503, 30_000)).toBe(30_000);
    expect(delay(503, 3_600_000)).toBe(60_000);
  });

  test('it never shortens the policy delay: Retry-After 0 or a date in the past keeps the schedule', () => {
    expect(delay(503, 0)).toBe(1_000);
    expect(delay(429, 10)).toBe(1_000);
  });

  test('on any other status it is ignored', () => {
    expect(delay(500, 30_000)).toBe(1_000);
    expect(delay(400, 30_000)).toBe(1_000);
  });
});
