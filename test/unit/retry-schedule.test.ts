import { DEFAULT_RETRY_POLICY, retryDelayMs, retrySchedule } from '../../workflows/retry-schedule';
import { deliveryStatusAfterAttempt } from '../../workflows/delivery-status';

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

test('Retry-After sets the next delay, bounded by the maximum interval', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, maxIntervalMs: 10_000 };
  expect(retryDelayMs(policy, 1, 0.7, 3_000)).toBe(3_000);
  expect(retryDelayMs(policy, 1, 0.7, 60_000)).toBe(10_000);
  expect(retryDelayMs(policy, 1, 0.7, 0)).toBe(0);
});

test('millisecond policies work, for tests and fast receivers', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, initialIntervalMs: 5, backoffCoefficient: 2, maxIntervalMs: 30, jitter: 0 };
  expect(retrySchedule({ ...policy, maxRetries: 5 })).toEqual([5, 10, 20, 30, 30]);
});

test('a delivery is PENDING, then FAILING after retriesUntilFailure retries, then PARKED after maxRetries or 410 Gone', () => {
  const policy = { ...DEFAULT_RETRY_POLICY, retriesUntilFailure: 2, maxRetries: 4 };
  expect([0, 1, 2, 3, 4].map((n) => deliveryStatusAfterAttempt(policy, n, false, 500))).toEqual(['PENDING', 'PENDING', 'FAILING', 'FAILING', 'PARKED']);
  expect(deliveryStatusAfterAttempt(policy, 0, false, 410)).toBe('PARKED');
  expect(deliveryStatusAfterAttempt(policy, 3, true, 202)).toBe('SUCCEEDED');
});
