/**
 * The fast subset of `npm run chaos`, so that CI catches a regression: real worker and API processes,
 * SIGKILLed or fed misbehaving receivers, every message counted. The restarts of the servers themselves
 * run only in `npm run chaos` (these servers are shared by the whole test run).
 */
import { externalServers } from '../chaos/harness';
import { concurrentDuplicates, misbehavingReceivers, workerKilled } from '../chaos/scenarios';

const servers = externalServers(process.env.TEST_TEMPORAL_ADDRESS!, process.env.TEST_MONGODB_URI!);

jest.setTimeout(180_000);

test('a worker SIGKILLed with deliveries in flight loses nothing once restarted; repeats carry the same message-id', async () => {
  const row = await workerKilled(servers, 24);
  expect(row).toMatchObject({ accepted: 24, delivered: 24, lost: 0 });
  expect(row.recoverySeconds).not.toBeNull();
});

test('50 concurrent sendMessage calls with one idempotency key make exactly one message, delivered once', async () => {
  const row = await concurrentDuplicates(servers, 50);
  expect(row).toMatchObject({ accepted: 1, delivered: 1, duplicates: 0, lost: 0 });
});

test('misbehaving receivers are each classified as what they did, with a 3 s delivery timeout', async () => {
  const row = await misbehavingReceivers(servers, 3000);
  expect(row.classes).toEqual({
    'HTTP 500': 'HTTP 500',
    'hangs past the timeout': 'timeout: no complete response within 3000 ms',
    'resets the connection': expect.stringMatching(/^connection reset/),
    'trickles its body': 'timeout: no complete response within 3000 ms',
    '50 MB body': 'ok (200, 4096 bytes kept)',
    'invalid HTTP': expect.stringMatching(/^protocol/),
    '2xx after 2 s': expect.stringMatching(/^ok \(202/),
  });
  expect(row.lost).toBe(0);
});
