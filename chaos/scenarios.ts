/**
 * The fault scenarios. Each runs against its own Hookflow (worker and API processes, database, task
 * queue), counts every message, and returns one row. "Lost" must be 0.
 */
import { randomUUID } from 'node:crypto';
import { startReceiver, type Receiver } from '../test/helpers/receiver';
import { gql, pool, sendOnce, sendUntilAccepted, sleep, startHookflow, type Hookflow, type Servers } from './harness';
import { misbehaving } from './receivers';

export interface Row {
  scenario: string;
  accepted: number;
  delivered: number;
  duplicates: number;
  lost: number;
  recoverySeconds: number | null;
  notes: string;
}

const CREATE = 'mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }';

async function createEndpoint(hookflow: Hookflow, input: Record<string, unknown>): Promise<string> {
  const result = await gql(hookflow, CREATE, { input });
  if (result.errors) throw new Error(`createEndpoint: ${JSON.stringify(result.errors)}`);
  return result.data.createEndpoint.endpoint.id;
}

/** Unique message ids the receiver acknowledged, and how many requests repeated one. */
function counted(receiver: Receiver, accepted: Set<string>) {
  const seen = new Map<string, number>();
  for (const request of receiver.requests) {
    const id = String(request.headers['message-id']);
    if (accepted.has(id)) seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  const duplicates = [...seen.values()].reduce((sum, n) => sum + n - 1, 0);
  return { delivered: seen.size, duplicates };
}

/** Waits until every accepted message reached the receiver, or the deadline; returns when it happened. */
async function allDelivered(receiver: Receiver, accepted: Set<string>, timeoutMs: number): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (counted(receiver, accepted).delivered === accepted.size) return Date.now();
    await sleep(200);
  }
  return null;
}

/** Acknowledged messages that are not stored: must never happen. */
async function unstored(hookflow: Hookflow, accepted: Set<string>): Promise<number> {
  const found = await hookflow.mongo.collections.messages.countDocuments({ _id: { $in: [...accepted] } });
  return accepted.size - found;
}

/** Where the messages that never arrived stand, so that a lost message says why. */
async function explainUndelivered(scenario: string, hookflow: Hookflow, receiver: Receiver, accepted: Set<string>): Promise<void> {
  const seen = new Set(receiver.requests.map((r) => String(r.headers['message-id'])));
  const undelivered = [...accepted].filter((id) => !seen.has(id));
  const rows = await hookflow.mongo.collections.deliveries.find({ messageId: { $in: undelivered } }).toArray();
  const byStatus: Record<string, number> = {};
  for (const r of rows) byStatus[`${r.status}/${r.attemptCount} attempts`] = (byStatus[`${r.status}/${r.attemptCount} attempts`] ?? 0) + 1;
  process.stderr.write(
    `[chaos] ${scenario}: ${undelivered.length} not delivered; their rows: ${JSON.stringify(byStatus)}; e.g. ${undelivered.slice(0, 3).join(', ')}\n`,
  );
}

async function row(
  scenario: string,
  hookflow: Hookflow,
  receiver: Receiver,
  accepted: Set<string>,
  recoveredFrom: number,
  timeoutMs: number,
  notes = '',
): Promise<Row> {
  const doneAt = await allDelivered(receiver, accepted, timeoutMs);
  const { delivered, duplicates } = counted(receiver, accepted);
  const missing = await unstored(hookflow, accepted);
  if (delivered < accepted.size) await explainUndelivered(scenario, hookflow, receiver, accepted);
  return {
    scenario,
    accepted: accepted.size,
    delivered,
    duplicates,
    lost: accepted.size - delivered + missing,
    recoverySeconds: doneAt === null ? null : Math.max(0, (doneAt - recoveredFrom) / 1000),
    notes: [notes, missing ? `${missing} acknowledged but not stored` : ''].filter(Boolean).join('; '),
  };
}

async function withHookflow<T>(servers: Servers, env: Record<string, string>, run: (hookflow: Hookflow, receiver: Receiver) => Promise<T>): Promise<T> {
  const [hookflow, receiver] = await Promise.all([startHookflow(servers, { env }), startReceiver()]);
  try {
    return await run(hookflow, receiver);
  } catch (error) {
    // What the API and the worker said last, so that a crashed scenario says why.
    for (const part of [hookflow.api, hookflow.worker])
      process.stderr.write(`[chaos] last output of a ${part === hookflow.api ? 'API' : 'worker'}:\n${part.logs().split('\n').slice(-30).join('\n')}\n`);
    throw error;
  } finally {
    await receiver.close();
    await hookflow.stop();
  }
}

const fastRetries = { initialIntervalMs: 200, backoffCoefficient: 2, maxIntervalMs: 2000, retriesUntilFailure: 5, maxRetries: 30, jitter: 0.2 };

/** 1. The worker is SIGKILLed with deliveries in flight, then started again. */
export function workerKilled(servers: Servers, count: number): Promise<Row> {
  return withHookflow(servers, {}, async (hookflow, receiver) => {
    await createEndpoint(hookflow, { url: receiver.url, retryPolicy: fastRetries });
    const accepted = new Set<string>();
    const sending = pool(
      Array.from({ length: count }, (_, i) => i),
      10,
      async (i) => {
        accepted.add(await sendUntilAccepted(hookflow, { eventType: 'chaos.worker', payload: { i }, idempotencyKey: `w-${i}` }));
      },
    );
    await receiver.waitFor(Math.ceil(count / 4), 120_000);
    await hookflow.worker.kill();
    await sleep(1000);
    await hookflow.worker.start();
    const restartedAt = Date.now();
    await sending;
    return row('worker killed (SIGKILL)', hookflow, receiver, accepted, restartedAt, 180_000, `killed after ${Math.ceil(count / 4)} arrived`);
  });
}

/**
 * 2. The API is SIGKILLed during a burst. Calls that failed are retried with their idempotency key;
 * every key must end as exactly one message.
 */
export function apiKilled(servers: Servers, count: number): Promise<Row> {
  return withHookflow(servers, {}, async (hookflow, receiver) => {
    await createEndpoint(hookflow, { url: receiver.url, retryPolicy: fastRetries });
    const acknowledgedFirstTry = new Set<string>();
    let failedCalls = 0;
    const keys = Array.from({ length: count }, (_, i) => `api-${i}`);
    const killer = (async () => {
      while (acknowledgedFirstTry.size < count / 3) await sleep(20);
      await hookflow.api.kill();
      await sleep(1000);
      await hookflow.api.start();
    })();
    const firstTry = await pool(keys, 20, async (key, i) => {
      const id = await sendOnce(hookflow, { eventType: 'chaos.api', payload: { i }, idempotencyKey: key });
      if (id) acknowledgedFirstTry.add(id);
      else failedCalls += 1;
      return id;
    });
    await killer;
    const restartedAt = Date.now();
    const retried = await pool(
      keys,
      20,
      async (key, i) => firstTry[i] ?? (await sendUntilAccepted(hookflow, { eventType: 'chaos.api', payload: { i }, idempotencyKey: key })),
    );
    const accepted = new Set(retried);
    const stored = await hookflow.mongo.collections.messages.countDocuments({ idempotencyKey: { $in: keys } });
    const result = await row(
      'API killed (SIGKILL)',
      hookflow,
      receiver,
      accepted,
      restartedAt,
      180_000,
      `${failedCalls} calls failed and were retried; ${stored} messages for ${count} keys`,
    );
    if (accepted.size !== count || stored !== count) result.lost += Math.abs(count - stored) + (count - accepted.size);
    return result;
  });
}

/** 3 and 4. A server restarts mid-run; clients retry with their idempotency key while it is down. */
function serverRestarted(kind: 'temporal' | 'mongo', servers: Servers, count: number): Promise<Row> {
  return withHookflow(servers, {}, async (hookflow, receiver) => {
    await createEndpoint(hookflow, { url: receiver.url, retryPolicy: fastRetries });
    const accepted = new Set<string>();
    const send = (i: number) => sendUntilAccepted(hookflow, { eventType: `chaos.${kind}`, payload: { i }, idempotencyKey: `${kind}-${i}` }, 300_000);
    const half = Math.floor(count / 2);
    for (const id of await pool(
      Array.from({ length: half }, (_, i) => i),
      10,
      send,
    ))
      accepted.add(id);
    const restart = kind === 'temporal' ? servers.restartTemporal(2000) : servers.restartMongo(2000);
    const rest = pool(
      Array.from({ length: count - half }, (_, i) => half + i),
      10,
      send,
    );
    await restart;
    const restartedAt = Date.now();
    for (const id of await rest) accepted.add(id);
    return row(kind === 'temporal' ? 'Temporal restarted' : 'FerretDB restarted', hookflow, receiver, accepted, restartedAt, 300_000, 'down 2 s mid-run');
  });
}

export const temporalRestarted = (servers: Servers, count: number) => serverRestarted('temporal', servers, count);
export const mongoRestarted = (servers: Servers, count: number) => serverRestarted('mongo', servers, count);

/** 5. Receivers that misbehave: each attempt is classified as what it was, and the worker's memory stays bounded. */
export function misbehavingReceivers(servers: Servers, timeoutMs = 15_000): Promise<Row & { classes: Record<string, string> }> {
  return withHookflow(servers, { HOOKFLOW_DELIVERY_TIMEOUT_MS: String(timeoutMs) }, async (hookflow) => {
    const expected: Record<string, RegExp> = {
      'HTTP 500': /^HTTP 500$/,
      'hangs past the timeout': /^timeout/,
      'resets the connection': /^connection reset/,
      'trickles its body': /^timeout/,
      '50 MB body': /^ok \(200, 4096 bytes kept\)$/,
      'invalid HTTP': /^protocol/,
      [`2xx after ${(timeoutMs - 1000) / 1000} s`]: /^ok \(202/,
    };
    const receivers = {
      'HTTP 500': await misbehaving.status500(),
      'hangs past the timeout': await misbehaving.hang(),
      'resets the connection': await misbehaving.reset(),
      'trickles its body': await misbehaving.trickle(),
      '50 MB body': await misbehaving.hugeBody(),
      'invalid HTTP': await misbehaving.invalidHttp(),
      [`2xx after ${(timeoutMs - 1000) / 1000} s`]: await misbehaving.slowOk(timeoutMs - 1000),
    };
    try {
      const before = hookflow.worker.resources();
      const endpoints: Record<string, string> = {};
      for (const [name, r] of Object.entries(receivers)) {
        endpoints[name] = await createEndpoint(hookflow, {
          url: r.url,
          eventTypes: [`mis.${Object.keys(endpoints).length}`],
          retryPolicy: { maxRetries: 0, retriesUntilFailure: 0 },
        });
      }
      const accepted = new Set<string>();
      const messageOf: Record<string, string> = {};
      for (const [index, name] of Object.keys(receivers).entries()) {
        const id = await sendUntilAccepted(hookflow, { eventType: `mis.${index}`, payload: { name }, idempotencyKey: `mis-${index}` });
        accepted.add(id);
        messageOf[name] = id;
      }
      const classes: Record<string, string> = {};
      const deadline = Date.now() + timeoutMs + 30_000;
      while (Object.keys(classes).length < Object.keys(receivers).length && Date.now() < deadline) {
        for (const [name, messageId] of Object.entries(messageOf)) {
          if (classes[name]) continue;
          const attempt = await hookflow.mongo.collections.attempts.findOne({ messageId });
          if (attempt)
            classes[name] = attempt.succeeded ? `ok (${attempt.statusCode}, ${attempt.responseBody?.length ?? 0} bytes kept)` : (attempt.error ?? 'no error');
        }
        await sleep(250);
      }
      const after = hookflow.worker.resources();
      const wrong = Object.entries(expected).filter(([name, pattern]) => !pattern.test(classes[name] ?? 'missing'));
      return {
        scenario: 'misbehaving receivers',
        accepted: accepted.size,
        delivered: Object.keys(classes).length,
        duplicates: 0,
        lost: accepted.size - Object.keys(classes).length + wrong.length,
        recoverySeconds: null,
        notes: `${wrong.length} misclassified${wrong.length ? ` (${wrong.map(([n]) => n).join(', ')})` : ''}; worker peak RSS ${before?.peakRssMb ?? '?'} → ${after?.peakRssMb ?? '?'} MB`,
        classes,
      };
    } finally {
      await Promise.all(Object.values(receivers).map((r) => r.close()));
    }
  });
}

/** 6. A burst to ten endpoints, two of them failing: the rest is delivered, the failing ones' messages parked. */
export function burst(servers: Servers, count: number, endpointCount = 10, failingCount = 2): Promise<Row> {
  return withHookflow(servers, {}, async (hookflow, receiver) => {
    const failing = await startReceiver((_req, _i, res) => void res.writeHead(500).end());
    try {
      for (let i = 0; i < endpointCount - failingCount; i++) await createEndpoint(hookflow, { url: `${receiver.url}?e=${i}`, retryPolicy: fastRetries });
      const failingIds: string[] = [];
      for (let i = 0; i < failingCount; i++) {
        failingIds.push(
          await createEndpoint(hookflow, { url: `${failing.url}?f=${i}`, retryPolicy: { ...fastRetries, retriesUntilFailure: 1, maxRetries: 2 } }),
        );
      }
      const started = Date.now();
      const accepted = new Set<string>();
      for (const id of await pool(
        Array.from({ length: count }, (_, i) => i),
        10,
        (i) => sendUntilAccepted(hookflow, { eventType: 'chaos.burst', payload: { i }, idempotencyKey: `b-${i}` }),
      )) {
        accepted.add(id);
      }
      const ingestSeconds = (Date.now() - started) / 1000;
      const healthy = endpointCount - failingCount;
      const deadline = Date.now() + 900_000;
      let perEndpoint = new Map<string, Set<string>>();
      let parked = 0;
      while (Date.now() < deadline) {
        perEndpoint = new Map();
        for (const request of receiver.requests) {
          const endpoint = request.path;
          if (!perEndpoint.has(endpoint)) perEndpoint.set(endpoint, new Set());
          perEndpoint.get(endpoint)!.add(String(request.headers['message-id']));
        }
        parked = await hookflow.mongo.collections.deliveries.countDocuments({ endpointId: { $in: failingIds }, status: 'PARKED' });
        const delivered = [...perEndpoint.values()].reduce((sum, s) => sum + s.size, 0);
        if (delivered === healthy * count && parked === failingCount * count) break;
        await sleep(1000);
      }
      const delivered = [...perEndpoint.values()].reduce((sum, s) => sum + s.size, 0);
      const duplicates = receiver.requests.length - delivered;
      const seconds = (Date.now() - started) / 1000;
      return {
        scenario: `burst: ${count} messages to ${endpointCount} endpoints, ${failingCount} failing`,
        accepted: accepted.size,
        delivered,
        duplicates,
        lost: healthy * count - delivered + (failingCount * count - parked),
        recoverySeconds: null,
        notes: `ingest ${ingestSeconds.toFixed(1)} s, all settled in ${seconds.toFixed(1)} s (${Math.round((healthy * count) / seconds)} deliveries/s); ${parked} parked; worker peak RSS ${hookflow.worker.resources()?.peakRssMb ?? '?'} MB`,
      };
    } finally {
      await failing.close();
    }
  });
}

/** 7. Concurrent calls with one idempotency key make exactly one message. */
export function concurrentDuplicates(servers: Servers, calls = 50): Promise<Row> {
  return withHookflow(servers, {}, async (hookflow, receiver) => {
    await createEndpoint(hookflow, { url: receiver.url });
    const key = `dup-${randomUUID()}`;
    const ids = await Promise.all(
      Array.from({ length: calls }, () => sendOnce(hookflow, { eventType: 'chaos.dup', payload: { once: true }, idempotencyKey: key })),
    );
    const distinct = new Set(ids.filter((id): id is string => id !== null));
    const failed = ids.filter((id) => id === null).length;
    const stored = await hookflow.mongo.collections.messages.countDocuments({ idempotencyKey: key });
    const result = await row(
      `${calls} concurrent calls, one idempotency key`,
      hookflow,
      receiver,
      distinct,
      Date.now(),
      30_000,
      `${distinct.size} distinct id(s), ${stored} stored, ${failed} calls failed`,
    );
    await sleep(1000);
    const again = counted(receiver, distinct);
    result.duplicates = again.duplicates;
    if (distinct.size !== 1 || stored !== 1 || failed > 0) result.lost += Math.max(1, Math.abs(distinct.size - 1) + Math.abs(stored - 1) + failed);
    return result;
  });
}
