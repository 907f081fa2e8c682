/**
 * `npm run bench`: Hookflow's ingest latency, end-to-end latency and delivered throughput, side by
 * side with the limits of the same machine in the same run (a trivial Temporal workflow, a raw undici
 * POST loop), the cost of history queries and retention as the store grows, and the CPU each process
 * spent. Loopback only, bounded in count. Prints a table; writes JSON and an SVG chart of the
 * end-to-end latency distributions to bench/results/.
 *
 * Runs on embedded servers, or on TEMPORAL_ADDRESS and MONGODB_URI when both are set.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { Agent, request } from 'undici';
import { externalServers, gql, pool, processResources, sleep, startHookflow, startServers, type Hookflow, type Servers } from '../chaos/harness';
import { answer, startReceiver } from '../test/helpers/receiver';
import { measureGrowth, type GrowthPoint } from './growth';
import { benchReceiver } from './receiver';
import { freePort } from '../src/dev/servers';
import { measureLive } from './live';
import { benchSummary } from './summary';
import { cpuMsPer, cpuShares, summary, svgCdf, type Summary } from './stats';

/** BENCH_QUICK=1: fewer messages, no 64 KiB sections, the store grown to 10k only; under 5 minutes. */
const QUICK = process.env.BENCH_QUICK === '1';
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? (QUICK ? 150 : 400));
/** Rounds of the metrics off / on comparison. */
const METRICS_ROUNDS = Number(process.env.BENCH_METRICS_ROUNDS ?? (QUICK ? 1 : 2));
const CONCURRENCY = 50;
/** Subscriptions open during the live section's deliveries. */
const LIVE_SUBSCRIPTIONS = Number(process.env.BENCH_SUBSCRIPTIONS ?? (QUICK ? 200 : 1000));
/** BENCH_ONLY=growth: only the growth of the store (section 5), e.g. to compare FerretDB builds. */
const GROWTH_ONLY = process.env.BENCH_ONLY === 'growth';
/**
 * BENCH_ONLY=floor: only the burst (split and one process) and the two raw Temporal baselines, the
 * figures of the ratios, in about two minutes: to compare builds back to back.
 */
const FLOOR_ONLY = process.env.BENCH_ONLY === 'floor';
/**
 * BENCH_CPU_PROFILE=<dir>: the Hookflow processes run with `--cpu-prof` and write V8 CPU profiles there
 * when they stop; `npx tsx bench/profile-top.ts <dir>` prints where their time went.
 */
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROFILE ? path.resolve(process.env.BENCH_CPU_PROFILE) : undefined;
const profileEnv = (name: string): Record<string, string> =>
  CPU_PROFILE_DIR ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.join(CPU_PROFILE_DIR, name)}` } : {};
const GROWTH_LEVELS = FLOOR_ONLY ? [] : (process.env.BENCH_GROWTH ?? (QUICK ? '10000' : '10000,100000')).split(',').filter(Boolean).map(Number);
/** No section waits longer than this for its deliveries. */
const SECTION_TIMEOUT_MS = 600_000;
const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);

const SEND = 'mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }';
const SEND_MANY = 'mutation ($inputs: [SendMessageInput!]!) { sendMessages(inputs: $inputs) { message { id } } }';
/** Clients sending sendMessages batches of 100 at once. */
const BATCH_CLIENTS = 4;
const CREATE = 'mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** A receiver that answers 202 at once and notes when each message first reached it. */
async function timingReceiver() {
  const firstSeen = new Map<string, number>();
  let requests = 0;
  const receiver = await startReceiver((req, i, res) => {
    requests += 1;
    const id = String(req.headers['message-id']);
    if (!firstSeen.has(id)) firstSeen.set(id, performance.timeOrigin + performance.now());
    void answer(202)(req, i, res);
  });
  return { receiver, firstSeen, requests: () => requests };
}

interface ThroughputResult {
  messages: number;
  endpoints: number;
  payloadBytes: number;
  accepted: number;
  deliveries: number;
  seconds: number;
  messagesPerSecond: number;
  deliveriesPerSecond: number;
  ingest: Summary & { requestsPerSecond: number };
  endToEnd: Summary;
  /** Every end-to-end latency, for the chart (left out of the JSON). */
  endToEndSamples: number[];
  /** Share of one core each process used during the section. */
  cpu: Record<string, number>;
  /** Milliseconds of CPU each process spent per delivered message (per delivery with fan-out). */
  cpuMsPerMessage: Record<string, number>;
}

class Bench {
  private key = 0;

  constructor(
    private readonly hookflow: Hookflow,
    private readonly servers: Servers,
  ) {}

  readings() {
    const pids = this.servers.pids();
    return {
      worker: this.hookflow.worker.resources(),
      api: this.hookflow.api.resources(),
      temporal: processResources(pids.temporal),
      ferretdb: processResources(pids.mongo),
      bench: processResources(process.pid),
    };
  }

  /** `fanOut` endpoints subscribed to an event type of their own, all on one receiver. */
  async endpoints(eventType: string, fanOut: number, receiver: Receiver): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < fanOut; i++) {
      const result = await gql(this.hookflow, CREATE, { input: { url: receiver.url, eventTypes: [eventType] } });
      const id = result.data?.createEndpoint?.endpoint?.id;
      if (!id) throw new Error(`createEndpoint failed: ${JSON.stringify(result.errors)}`);
      ids.push(id);
    }
    return ids;
  }

  /**
   * Sends `messages` messages and waits until each reached every endpoint. With `ratePerSecond`, sends
   * open-loop at that rate (a new call every 1/rate s, whatever the earlier ones do); without it, as
   * fast as `CONCURRENCY` clients can.
   */
  async throughput(
    label: string,
    options: { messages: number; fanOut: number; payloadBytes: number; ratePerSecond?: number; orderingKeys?: number; batch?: number },
  ): Promise<ThroughputResult> {
    const { messages, fanOut, payloadBytes, ratePerSecond, orderingKeys, batch } = options;
    const eventType = `bench.${label}`;
    const { receiver, firstSeen, requests } = await timingReceiver();
    try {
      await this.endpoints(eventType, fanOut, receiver);
      const payload = { blob: 'x'.repeat(Math.max(0, payloadBytes - 12)) };
      const returnedAt = new Map<string, number>();
      const ingest: number[] = [];
      let failures = 0;
      const sendOne = async () => {
        const t0 = performance.now();
        const n = this.key++;
        const keyed = orderingKeys ? { orderingKey: `${label}-${n % orderingKeys}` } : {};
        const result = await gql(this.hookflow, SEND, { input: { eventType, payload, idempotencyKey: `bench-${label}-${n}`, ...keyed } });
        const id = result.data?.sendMessage?.id;
        if (!id) {
          failures += 1;
          return;
        }
        ingest.push(performance.now() - t0);
        returnedAt.set(id, performance.timeOrigin + performance.now());
      };
      say(
        `${label}: ${messages} messages × ${fanOut} endpoint(s), ${payloadBytes} B${ratePerSecond ? `, ${ratePerSecond.toFixed(1)}/s` : ', as fast as 50 clients go'}`,
      );
      /** sendMessages: `batch` messages a call, from BATCH_CLIENTS clients; `ingest` holds each call's latency. */
      const sendBatch = async () => {
        const t0 = performance.now();
        const inputs = Array.from({ length: batch! }, () => ({ eventType, payload, idempotencyKey: `bench-${label}-${this.key++}` }));
        const result = await gql(this.hookflow, SEND_MANY, { inputs });
        const items: { message: { id: string } | null }[] = result.data?.sendMessages ?? [];
        ingest.push(performance.now() - t0);
        const at = performance.timeOrigin + performance.now();
        for (const item of items) if (item.message) returnedAt.set(item.message.id, at);
        failures += inputs.length - items.filter((i) => i.message).length;
      };
      const before = this.readings();
      const started = performance.now();
      if (batch) {
        await pool(
          Array.from({ length: Math.ceil(messages / batch) }, (_, i) => i),
          BATCH_CLIENTS,
          sendBatch,
        );
      } else if (ratePerSecond) {
        const calls: Promise<void>[] = [];
        for (let i = 0; i < messages; i++) {
          const due = started + (i * 1000) / ratePerSecond;
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
          calls.push(sendOne());
        }
        await Promise.all(calls);
      } else {
        await pool(
          Array.from({ length: messages }, (_, i) => i),
          CONCURRENCY,
          sendOne,
        );
      }
      const ingestSeconds = (performance.now() - started) / 1000;
      const expected = returnedAt.size * fanOut;
      let lastReport = performance.now();
      while (requests() < expected && performance.now() - started < SECTION_TIMEOUT_MS) {
        await sleep(50);
        if (performance.now() - lastReport > 10_000) {
          lastReport = performance.now();
          say(`${label}: ${requests()} of ${expected} deliveries`);
        }
      }
      const seconds = (performance.now() - started) / 1000;
      const after = this.readings();
      const cpu = cpuShares(before, after, seconds);
      const cpuMsPerMessage = cpuMsPer(before, after, Math.max(1, requests()));
      if (failures > 0) say(`${label}: ${failures} sendMessage calls failed`);
      if (requests() < expected) say(`${label}: only ${requests()} of ${expected} deliveries arrived in ${SECTION_TIMEOUT_MS / 1000} s`);
      const e2e = [...returnedAt].filter(([id]) => firstSeen.has(id)).map(([id, t]) => firstSeen.get(id)! - t);
      return {
        messages,
        endpoints: fanOut,
        payloadBytes,
        accepted: returnedAt.size,
        deliveries: requests(),
        seconds,
        messagesPerSecond: firstSeen.size / seconds,
        deliveriesPerSecond: requests() / seconds,
        ingest: { ...summary(ingest), requestsPerSecond: messages / ingestSeconds },
        endToEnd: summary(e2e),
        endToEndSamples: e2e,
        cpu,
        cpuMsPerMessage,
      };
    } finally {
      await receiver.close();
    }
  }
}

/**
 * A trivial workflow on the same server, run by a worker in this process.
 * - naive: one ordinary no-op activity, started by a client on its own gRPC connection, with the same
 *   activity concurrency as Hookflow's worker;
 * - best: one local no-op activity, started with eager workflow start (`requestEagerStart`) by a client
 *   on the worker's own NativeConnection, so the first workflow task comes back in the start call.
 *   That is the least work Temporal can do for one durable workflow per message.
 */
async function rawTemporal(servers: Servers, count: number, mode: 'naive' | 'best', readings: () => Record<string, { cpuSeconds: number } | null>) {
  const native = await NativeConnection.connect({ address: servers.temporalAddress });
  const taskQueue = `bench-raw-${mode}`;
  const worker = await Worker.create({
    connection: native,
    taskQueue,
    workflowsPath: require.resolve('./raw-workflow'),
    activities: { noop: async () => undefined },
    maxConcurrentActivityTaskExecutions: 20,
    maxConcurrentLocalActivityExecutions: 20,
  });
  const connection = mode === 'naive' ? await Connection.connect({ address: servers.temporalAddress }) : null;
  const client = new Client({ connection: connection ?? native });
  let eager = 0;
  const before = readings();
  const started = performance.now();
  await worker.runUntil(
    pool(
      Array.from({ length: count }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        const workflowId = `raw-${mode}-${Date.now()}-${i}`;
        if (mode === 'naive') return client.workflow.execute('rawWorkflow', { taskQueue, workflowId });
        const handle = await client.workflow.start('rawLocalWorkflow', { taskQueue, workflowId, requestEagerStart: true });
        if (handle.eagerlyStarted) eager += 1;
        return handle.result();
      },
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = readings();
  await connection?.close();
  await native.close();
  return {
    workflowsPerSecond: count / seconds,
    ...(mode === 'best' ? { eagerlyStarted: eager } : {}),
    cpu: cpuShares(before, after, seconds),
    cpuMsPerMessage: cpuMsPer(before, after, count),
  };
}

/** An undici POST loop at the same concurrency to a receiver like the one Hookflow delivers to. */
async function rawHttp(count: number) {
  const { receiver } = await timingReceiver();
  const agent = new Agent({ connections: 64 });
  const body = JSON.stringify({ blob: 'x'.repeat(1012) });
  const started = performance.now();
  await pool(
    Array.from({ length: count }, (_, i) => i),
    CONCURRENCY,
    async (i) => {
      const response = await request(receiver.url, {
        method: 'POST',
        body,
        dispatcher: agent,
        headers: { 'message-id': `raw-${i}`, 'content-type': 'application/json' },
      });
      await response.body.dump();
    },
  );
  const perSecond = count / ((performance.now() - started) / 1000);
  await agent.close();
  await receiver.close();
  return { requestsPerSecond: perSecond };
}

const ms = (v: number) => `${Math.round(v)} ms`;
const cpuText = (cpu: Record<string, number>, includeBench = false) =>
  Object.entries(cpu)
    .filter(([name]) => includeBench || name !== 'bench')
    .map(([name, share]) => `${name} ${Math.round(share * 100)}%`)
    .join(', ');
const cpuMsText = (perMessage: Record<string, number>, includeBench = false) =>
  Object.entries(perMessage)
    .filter(([name]) => includeBench || name !== 'bench')
    .map(([name, cpuMs]) => `${name} ${cpuMs.toFixed(1)}`)
    .join(', ');

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const external = process.env.TEMPORAL_ADDRESS && process.env.MONGODB_URI;
  const servers = external ? externalServers(process.env.TEMPORAL_ADDRESS!, process.env.MONGODB_URI!) : await startServers();
  // Metrics on, as in production: the worker's /metrics and the Temporal SDK's exporter, on free ports.
  const metricsPorts = { worker: await freePort(), sdk: await freePort() };
  const hookflow = await startHookflow(servers, {
    env: {
      HOOKFLOW_METRICS_PORT: String(metricsPorts.worker),
      HOOKFLOW_SDK_METRICS_PORT: String(metricsPorts.sdk),
      // One key holds the live section's 1,000 subscriptions.
      HOOKFLOW_MAX_SUBSCRIPTIONS_PER_KEY: String(Math.max(100, LIVE_SUBSCRIPTIONS)),
      ...profileEnv('split'),
    },
  });
  const bench = new Bench(hookflow, servers);
  const results: Record<string, unknown> = {
    quick: QUICK,
    startedAt: new Date().toISOString(),
    commit: gitCommit(),
    machine: { cores: 2 },
    messages: MESSAGES,
    concurrency: CONCURRENCY,
  };
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const jsonFile = path.join(dir, `bench-${stamp}.json`);
  // Every section's figures are printed and saved as soon as it ends, so a run cut short keeps them.
  const save = () =>
    writeFileSync(
      jsonFile,
      JSON.stringify(results, (key, value) => (key === 'endToEndSamples' ? undefined : value), 2),
    );
  const row = (k: string, v: string) => process.stdout.write(`${k.padEnd(40)} ${v}\n`);
  const deliveredRow = (name: string, r: ThroughputResult) => {
    row(
      `delivered, ${name}`,
      `${r.messagesPerSecond.toFixed(1)} msg/s  ${r.deliveriesPerSecond.toFixed(1)} deliveries/s  (${r.deliveries}/${r.accepted * r.endpoints})`,
    );
    row('  CPU, share of one core', cpuText(r.cpu));
    row('  CPU ms per delivered message', cpuMsText(r.cpuMsPerMessage));
  };
  // 4: the machine's limits in the same run: the two raw Temporal baselines.
  const baselines = async (burst: ThroughputResult) => {
    say(`raw Temporal, naive: ${MESSAGES} trivial workflows with one activity`);
    const raw = await rawTemporal(servers, MESSAGES, 'naive', () => bench.readings());
    results.rawTemporal = raw;
    results.ratioToRawTemporal = burst.messagesPerSecond / raw.workflowsPerSecond;
    save();
    row('raw Temporal, naive (activity)', `${raw.workflowsPerSecond.toFixed(1)} wf/s  → Hookflow/raw ${(results.ratioToRawTemporal as number).toFixed(2)}`);
    row('  CPU, share of one core', cpuText(raw.cpu, true));
    row('  CPU ms per workflow', cpuMsText(raw.cpuMsPerMessage, true));
    say(`raw Temporal, best: ${MESSAGES} trivial workflows with one local activity, started eagerly`);
    const best = await rawTemporal(servers, MESSAGES, 'best', () => bench.readings());
    results.rawTemporalBest = best;
    results.ratioToRawTemporalBest = burst.messagesPerSecond / best.workflowsPerSecond;
    save();
    row(
      'raw Temporal, best (local, eager)',
      `${best.workflowsPerSecond.toFixed(1)} wf/s  → Hookflow/best ${(results.ratioToRawTemporalBest as number).toFixed(2)}  (${best.eagerlyStarted}/${MESSAGES} started eagerly)`,
    );
    row('  CPU, share of one core', cpuText(best.cpu, true));
    row('  CPU ms per workflow', cpuMsText(best.cpuMsPerMessage, true));
  };

  // Sections 1 to 4: throughput, latency and the baselines.
  const throughputSections = async () => {
    // 1, 2 and 3: a burst at 50 clients gives ingest latency, the maximum delivered rate and end to end at it.
    const burst = await bench.throughput('one', { messages: MESSAGES, fanOut: 1, payloadBytes: 1024 });
    results.burst = burst;
    save();
    row(
      'sendMessage, 50 clients, 1 KiB',
      `p50 ${ms(burst.ingest.p50)}  p99 ${ms(burst.ingest.p99)}  max ${ms(burst.ingest.max)}  ${burst.ingest.requestsPerSecond.toFixed(1)} req/s`,
    );
    row('end to end at max rate (burst)', `p50 ${ms(burst.endToEnd.p50)}  p95 ${ms(burst.endToEnd.p95)}  p99 ${ms(burst.endToEnd.p99)}`);
    deliveredRow('1 endpoint, 1 KiB', burst);

    // The same burst on `npm start`'s shape: the API and the worker in one process, message workflows
    // started eagerly on the worker's connection. Its `api` CPU is the whole process's.
    const oneShape = await startHookflow(servers, {
      shape: 'one',
      env: { HOOKFLOW_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'hookflow-bench-one-')), ...profileEnv('one') },
    });
    try {
      const oneProcess = await new Bench(oneShape, servers).throughput('oneProcess', { messages: MESSAGES, fanOut: 1, payloadBytes: 1024 });
      results.oneProcess = oneProcess;
      save();
      row(
        'one process: sendMessage, 50 clients',
        `p50 ${ms(oneProcess.ingest.p50)}  p99 ${ms(oneProcess.ingest.p99)}  ${oneProcess.ingest.requestsPerSecond.toFixed(1)} req/s`,
      );
      deliveredRow('one process, 1 endpoint, 1 KiB', oneProcess);
    } finally {
      await oneShape.stop();
    }
    if (FLOOR_ONLY) return baselines(burst);

    // The cost of metrics: the same burst on a Hookflow that records none (HOOKFLOW_METRICS=false, no SDK
    // exporter) and on the one that records them while it is scraped every 5 s (Prometheus's default is
    // 15 s), alternated METRICS_ROUNDS times so that drift in the shared machine's load hits both alike.
    const scrapeUrls = [
      hookflow.apiUrl.replace(/\/graphql$/, '/metrics'),
      `http://127.0.0.1:${metricsPorts.worker}/metrics`,
      `http://127.0.0.1:${metricsPorts.sdk}/metrics`,
    ];
    const metricsCost: { withoutMetrics: ThroughputResult[]; withMetrics: ThroughputResult[] } = { withoutMetrics: [], withMetrics: [] };
    results.metricsCost = metricsCost;
    const unmetered = await startHookflow(servers, { env: { HOOKFLOW_METRICS: 'false' } });
    try {
      for (let round = 0; round < METRICS_ROUNDS; round++) {
        say(`metrics cost, round ${round + 1} of ${METRICS_ROUNDS}: without metrics, then with them`);
        metricsCost.withoutMetrics.push(
          await new Bench(unmetered, servers).throughput(`metricsOff${round}`, { messages: MESSAGES, fanOut: 1, payloadBytes: 1024 }),
        );
        const scraper = setInterval(
          () =>
            scrapeUrls.forEach(
              (url) =>
                void fetch(url)
                  .then((r) => r.text())
                  .catch(() => undefined),
            ),
          5_000,
        );
        try {
          metricsCost.withMetrics.push(await bench.throughput(`metricsOn${round}`, { messages: MESSAGES, fanOut: 1, payloadBytes: 1024 }));
        } finally {
          clearInterval(scraper);
        }
        save();
      }
    } finally {
      await unmetered.stop();
    }
    const rate = (runs: ThroughputResult[]) => runs.reduce((sum, r) => sum + r.messagesPerSecond, 0) / runs.length;
    /** Worker CPU per delivered message, in ms: the direct cost, less sensitive to the machine's other load than the rate. */
    const workerCpuMs = (runs: ThroughputResult[]) => runs.reduce((sum, r) => sum + ((r.cpu.worker ?? 0) * r.seconds * 1000) / r.deliveries, 0) / runs.length;
    const [off, on] = [metricsCost.withoutMetrics, metricsCost.withMetrics];
    row(
      'delivered, 1 KiB, metrics off | on',
      `${rate(off).toFixed(1)} | ${rate(on).toFixed(1)} msg/s  (on/off ${(rate(on) / rate(off)).toFixed(2)}; rounds ${off.map((r, i) => `${r.messagesPerSecond.toFixed(1)}|${on[i]!.messagesPerSecond.toFixed(1)}`).join(', ')})`,
    );
    row('  worker CPU per message, off | on', `${workerCpuMs(off).toFixed(1)} | ${workerCpuMs(on).toFixed(1)} ms`);

    // End to end at half that rate, sent open-loop.
    const half = await bench.throughput('half', {
      messages: Math.ceil(MESSAGES / 2),
      fanOut: 1,
      payloadBytes: 1024,
      ratePerSecond: burst.messagesPerSecond / 2,
    });
    results.half = half;
    save();
    row(
      `end to end at half rate (${(burst.messagesPerSecond / 2).toFixed(1)}/s)`,
      `p50 ${ms(half.endToEnd.p50)}  p95 ${ms(half.endToEnd.p95)}  p99 ${ms(half.endToEnd.p99)}`,
    );
    row('  sendMessage at half rate', `p50 ${ms(half.ingest.p50)}  p99 ${ms(half.ingest.p99)}`);

    // Live events at half the maximum rate: one subscriber, then LIVE_SUBSCRIPTIONS of them.
    const liveRate = burst.messagesPerSecond / 2;
    const liveRow = (name: string, r: Awaited<ReturnType<typeof measureLive>>) => {
      row(
        name,
        `p50 ${ms(r.latency.p50)}  p99 ${ms(r.latency.p99)}  max ${ms(r.latency.max)}  (${r.received}/${r.expected} events, ${r.duplicates} duplicates)`,
      );
      row('  API RSS: before / subscribed / after', `${r.apiRssMb.before} / ${r.apiRssMb.subscribed} / ${r.apiRssMb.after} MB`);
      row('  CPU, share of one core', cpuText(r.cpu));
    };
    const liveOne = await measureLive({
      hookflow,
      label: 'one',
      subscriptions: 1,
      messages: Math.ceil(MESSAGES / 2),
      ratePerSecond: liveRate,
      readings: () => bench.readings(),
      say,
    });
    results.liveOne = liveOne;
    save();
    liveRow(`attempt recorded → subscriber (${liveRate.toFixed(1)}/s)`, liveOne);
    const liveMany = await measureLive({
      hookflow,
      label: 'many',
      subscriptions: LIVE_SUBSCRIPTIONS,
      messages: Math.ceil(MESSAGES / 4),
      ratePerSecond: liveRate,
      readings: () => bench.readings(),
      say,
    });
    results.liveMany = liveMany;
    save();
    liveRow(`  the same, ${LIVE_SUBSCRIPTIONS} subscriptions`, liveMany);

    // sendMessage at 80 % of the burst's ingest rate, open loop: the latency a client sees below saturation.
    const eighty = await bench.throughput('eighty', { messages: MESSAGES, fanOut: 1, payloadBytes: 1024, ratePerSecond: burst.ingest.requestsPerSecond * 0.8 });
    results.eighty = eighty;
    save();
    row(`sendMessage at 80% rate (${(burst.ingest.requestsPerSecond * 0.8).toFixed(1)}/s)`, `p50 ${ms(eighty.ingest.p50)}  p99 ${ms(eighty.ingest.p99)}`);
    // The same at 80 % of the delivered rate: the burst's ingest outruns delivery, so at 80 % of it the
    // deliveries fall behind and the calls wait behind them on the same servers.
    const sustained = burst.messagesPerSecond * 0.8;
    const eightyOfDelivered = await bench.throughput('eightyOfDelivered', { messages: MESSAGES, fanOut: 1, payloadBytes: 1024, ratePerSecond: sustained });
    results.eightyOfDelivered = eightyOfDelivered;
    save();
    row(`sendMessage at 80% of delivered (${sustained.toFixed(1)}/s)`, `p50 ${ms(eightyOfDelivered.ingest.p50)}  p99 ${ms(eightyOfDelivered.ingest.p99)}`);

    // Batch ingest: sendMessages with 100 messages a call, from BATCH_CLIENTS clients, against single calls from 50.
    const batched = await bench.throughput('batch', { messages: MESSAGES * 2, fanOut: 1, payloadBytes: 1024, batch: 100 });
    results.batch = batched;
    save();
    row(
      'sendMessages, 100 a call, 4 clients',
      `${batched.ingest.requestsPerSecond.toFixed(1)} msg/s ingested (sendMessage: ${burst.ingest.requestsPerSecond.toFixed(1)})  call p50 ${ms(batched.ingest.p50)}  p99 ${ms(batched.ingest.p99)}`,
    );
    deliveredRow('  after a batched ingest, 1 KiB', batched);

    // Ordering keys: the delivered rate with 1, 10 and 100 keys, then keyed end to end at half the unkeyed maximum.
    const keyed: Record<string, ThroughputResult> = {};
    for (const keys of [1, 10, 100]) {
      keyed[`keys${keys}`] = await bench.throughput(`keys${keys}`, { messages: MESSAGES, fanOut: 1, payloadBytes: 1024, orderingKeys: keys });
      row(
        `delivered, ${keys} ordering key${keys > 1 ? 's' : ''}`,
        `${keyed[`keys${keys}`]!.messagesPerSecond.toFixed(1)} msg/s  (unkeyed ${burst.messagesPerSecond.toFixed(1)})`,
      );
    }
    keyed.keysHalfRate = await bench.throughput('keysHalf', {
      messages: MESSAGES,
      fanOut: 1,
      payloadBytes: 1024,
      orderingKeys: 100,
      ratePerSecond: burst.messagesPerSecond / 2,
    });
    row('  keyed end to end at half rate, 100 keys', `p50 ${ms(keyed.keysHalfRate.endToEnd.p50)}  p99 ${ms(keyed.keysHalfRate.endToEnd.p99)}`);
    results.orderingKeys = Object.fromEntries(Object.entries(keyed).map(([k, v]) => [k, { ...v, endToEndSamples: undefined }]));
    save();

    const sections = (
      [
        ['big', '1 endpoint, 64 KiB', { messages: Math.ceil(MESSAGES / 2), fanOut: 1, payloadBytes: 64 * 1024 }],
        ['ten', '10 endpoints, 1 KiB', { messages: Math.ceil(MESSAGES / 10), fanOut: 10, payloadBytes: 1024 }],
        ['fifty', '50 endpoints, 1 KiB', { messages: Math.ceil(MESSAGES / 25), fanOut: 50, payloadBytes: 1024 }],
        ['fiftyBig', '50 endpoints, 64 KiB', { messages: Math.ceil(MESSAGES / 50), fanOut: 50, payloadBytes: 64 * 1024 }],
      ] as const
    ).filter(([key]) => !QUICK || !key.endsWith('ig'));
    const fanOut: Record<string, ThroughputResult> = {};
    for (const [key, name, options] of sections) {
      fanOut[key] = await bench.throughput(key, options);
      results[key] = fanOut[key];
      save();
      deliveredRow(name, fanOut[key]);
    }

    await baselines(burst);
    say(`raw HTTP: ${MESSAGES * 5} POSTs`);
    const http = await rawHttp(MESSAGES * 5);
    results.rawHttp = http;
    results.ratioToRawHttp = burst.messagesPerSecond / http.requestsPerSecond;
    save();
    row('raw undici POST, 1 KiB', `${http.requestsPerSecond.toFixed(0)} req/s  → Hookflow/raw ${(results.ratioToRawHttp as number).toFixed(3)}`);

    // The receiver's toolkit (hookflow/receiver), also alone as `npm run bench:receiver`.
    const receiver = await benchReceiver(servers.mongoUri);
    results.receiver = receiver;
    save();
    for (const f of receiver) {
      row(
        `receiver (${f.store}), ${f.connections} connections`,
        `${f.acksPerSecond} acks/s  ack p50 ${ms(f.ackMs.p50)}  p99 ${ms(f.ackMs.p99)}  processed ${f.processedPerSecond}/s`,
      );
    }

    writeFileSync(
      path.join(dir, `e2e-latency-${stamp}.svg`),
      svgCdf('end-to-end latency: sendMessage returned → the receiver got the message', [
        { label: 'max rate, 1 KiB', values: burst.endToEndSamples },
        { label: 'half rate, 1 KiB', values: half.endToEndSamples },
        ...(fanOut.big ? [{ label: 'max rate, 64 KiB', values: fanOut.big.endToEndSamples }] : []),
        { label: 'first of 10 endpoints', values: fanOut.ten!.endToEndSamples },
        { label: 'first of 50 endpoints', values: fanOut.fifty!.endToEndSamples },
      ]),
    );
  };

  try {
    if (!GROWTH_ONLY) await throughputSections();

    // 5: growth of the store.
    if (GROWTH_LEVELS.length > 0) {
      const [endpointId] = await bench.endpoints('growth.none', 1, { url: 'http://127.0.0.1:9/never' } as Receiver);
      const tenant = await hookflow.mongo.collections.endpoints.findOne({ _id: endpointId! });
      const connection = await Connection.connect({ address: servers.temporalAddress });
      const growth: GrowthPoint[] = [];
      results.growth = growth;
      await measureGrowth({
        hookflow,
        temporal: new Client({ connection }),
        taskQueue: 'bench-growth',
        tenantId: tenant!.tenantId,
        endpointId: endpointId!,
        levels: GROWTH_LEVELS,
        say,
        onPoint: (g) => {
          growth.push(g);
          save();
          row(
            `history @ ${g.storedMessages} stored`,
            `by type ${ms(g.queryByTypeMs)}  +totalCount ${ms(g.queryByTypeWithCountMs)}  by endpoint ${ms(g.queryByEndpointMs)}  page 2 ${ms(g.secondPageMs)}`,
          );
          row(`  message(id) @ ${g.storedMessages} stored`, ms(g.messageByIdMs));
          row(`retention @ ${g.storedMessages} stored`, `${g.retentionDeleted} deleted in ${g.retentionSeconds.toFixed(1)} s (${g.retentionBatches} batches)`);
        },
      });
      await connection.close();
    }
    // 6: resources over the whole run.
    const r = bench.readings();
    results.resources = r;
    results.summary = benchSummary(results);
    save();
    for (const name of ['worker', 'api', 'temporal', 'ferretdb'] as const) {
      const v = r[name];
      if (v) row(`${name} peak RSS / CPU`, `${v.peakRssMb} MB / ${v.cpuSeconds.toFixed(1)} s`);
    }
    process.stdout.write(`\nsummary ${JSON.stringify(results.summary)}\n`);
    process.stdout.write(`\nwritten to ${path.relative(process.cwd(), jsonFile)}\n`);
  } finally {
    await hookflow.stop();
    await servers.stop();
  }
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
