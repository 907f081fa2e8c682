/**
 * `npm run bench`: Hookflow's ingest latency, end-to-end latency and delivered throughput, side by
 * side with the limits of the same machine in the same run (a trivial Temporal workflow, a raw undici
 * POST loop). Loopback only, bounded in count. Prints a table; writes JSON and an SVG chart of the
 * end-to-end latency distribution to bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { Agent, request } from 'undici';
import { gql, pool, sleep, startHookflow, startServers } from '../chaos/harness';
import { answer, startReceiver } from '../test/helpers/receiver';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 400);
const CONCURRENCY = 50;

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN;
};
const summary = (values: number[]) => ({ p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99), max: Math.max(...values) });

function svgHistogram(title: string, values: number[]): string {
  const bins = 30;
  const max = percentile(values, 99) || 1;
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v / max) * bins))] += 1;
  const top = Math.max(...counts, 1);
  const bars = counts
    .map((c, i) => `<rect x="${40 + i * 18}" y="${230 - (c / top) * 200}" width="16" height="${(c / top) * 200}" fill="#4a7bd0"/>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="620" height="270"><text x="10" y="18" font-family="sans-serif" font-size="13">${title}</text>${bars}<line x1="40" y1="230" x2="580" y2="230" stroke="black"/><text x="40" y="250" font-size="11" font-family="sans-serif">0 ms</text><text x="520" y="250" font-size="11" font-family="sans-serif">${Math.round(max)} ms (p99)</text><text x="40" y="265" font-size="11" font-family="sans-serif">n=${values.length}; last bin holds everything above p99</text></svg>`;
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const servers = await startServers();
  const hookflow = await startHookflow(servers);
  const received = new Map<string, number>();
  const receiver = await startReceiver((req, i, res) => {
    received.set(String(req.headers['message-id']), performance.timeOrigin + performance.now());
    answer(202)(req, i, res);
  });
  const results: Record<string, unknown> = { machine: { cores: 2 }, messages: MESSAGES, concurrency: CONCURRENCY };
  try {
    await gql(hookflow, 'mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }', { input: { url: receiver.url } });
    const payload = { blob: 'x'.repeat(1024 - 12) };

    // 1 and 2: ingest at 50 concurrent clients, and end to end for the same burst.
    const returnedAt = new Map<string, number>();
    const ingest: number[] = [];
    const started = Date.now();
    await pool(Array.from({ length: MESSAGES }, (_, i) => i), CONCURRENCY, async (i) => {
      const t0 = performance.now();
      const result = await gql(hookflow, 'mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }', {
        input: { eventType: 'bench.one', payload, idempotencyKey: `bench-${i}` },
      });
      ingest.push(performance.now() - t0);
      if (result.data?.sendMessage?.id) returnedAt.set(result.data.sendMessage.id, performance.timeOrigin + performance.now());
    });
    const ingestSeconds = (Date.now() - started) / 1000;
    while (received.size < returnedAt.size && Date.now() - started < 600_000) await sleep(200);
    const deliveredSeconds = (Date.now() - started) / 1000;
    const e2e = [...returnedAt].filter(([id]) => received.has(id)).map(([id, t]) => received.get(id)! - t);
    results.ingest = { ...summary(ingest), requestsPerSecond: MESSAGES / ingestSeconds, accepted: returnedAt.size };
    results.endToEndAtBurst = summary(e2e);
    results.deliveredPerSecond = received.size / deliveredSeconds;

    // 4: the same Temporal server, a trivial workflow with one no-op activity, same worker concurrency.
    const native = await NativeConnection.connect({ address: servers.temporalAddress });
    const worker = await Worker.create({
      connection: native,
      taskQueue: 'bench-raw',
      workflowsPath: require.resolve('./raw-workflow'),
      activities: { noop: async () => undefined },
      maxConcurrentActivityTaskExecutions: 20,
    });
    const client = new Client({ connection: await Connection.connect({ address: servers.temporalAddress }) });
    const rawStart = Date.now();
    await worker.runUntil(
      pool(Array.from({ length: MESSAGES }, (_, i) => i), CONCURRENCY, (i) =>
        client.workflow.execute('rawWorkflow', { taskQueue: 'bench-raw', workflowId: `raw-${Date.now()}-${i}` }),
      ),
    );
    results.rawTemporalWorkflowsPerSecond = MESSAGES / ((Date.now() - rawStart) / 1000);
    await native.close();

    // 5: a raw undici POST loop to the same receiver.
    const agent = new Agent({ connections: 64 });
    const httpStart = Date.now();
    await pool(Array.from({ length: MESSAGES * 5 }, (_, i) => i), CONCURRENCY, async () => {
      const response = await request(receiver.url, { method: 'POST', body: '{}', dispatcher: agent, headers: { 'message-id': 'raw' } });
      await response.body.dump();
    });
    results.rawHttpPerSecond = (MESSAGES * 5) / ((Date.now() - httpStart) / 1000);
    await agent.close();

    results.ratioToRawTemporal = (results.deliveredPerSecond as number) / (results.rawTemporalWorkflowsPerSecond as number);
    results.ratioToRawHttp = (results.deliveredPerSecond as number) / (results.rawHttpPerSecond as number);
    results.resources = { worker: hookflow.worker.resources(), api: hookflow.api.resources() };

    const dir = path.join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    writeFileSync(path.join(dir, `bench-${stamp}.json`), JSON.stringify(results, null, 2));
    writeFileSync(path.join(dir, `e2e-latency-${stamp}.svg`), svgHistogram(`end-to-end latency, ${MESSAGES} messages at ${CONCURRENCY} concurrent clients`, e2e));
    const ms = (v: number) => `${Math.round(v)} ms`;
    const i = results.ingest as ReturnType<typeof summary> & { requestsPerSecond: number };
    const e = results.endToEndAtBurst as ReturnType<typeof summary>;
    const rows: [string, string][] = [
      ['sendMessage latency (50 clients)', `p50 ${ms(i.p50)}  p99 ${ms(i.p99)}  max ${ms(i.max)}  ${i.requestsPerSecond.toFixed(1)} req/s`],
      ['end to end, burst', `p50 ${ms(e.p50)}  p95 ${ms(e.p95)}  p99 ${ms(e.p99)}`],
      ['delivered, 1 endpoint, 1 KiB', `${(results.deliveredPerSecond as number).toFixed(1)} msg/s`],
      ['raw Temporal (no-op activity)', `${(results.rawTemporalWorkflowsPerSecond as number).toFixed(1)} wf/s  → ratio ${(results.ratioToRawTemporal as number).toFixed(2)}`],
      ['raw undici POST', `${(results.rawHttpPerSecond as number).toFixed(0)} req/s  → ratio ${(results.ratioToRawHttp as number).toFixed(3)}`],
      ['worker peak RSS / CPU', JSON.stringify((results.resources as any).worker)],
      ['API peak RSS / CPU', JSON.stringify((results.resources as any).api)],
    ];
    process.stdout.write(`\n${rows.map(([k, v]) => `${k.padEnd(34)} ${v}`).join('\n')}\n\nwritten to bench/results/bench-${stamp}.json\n`);
  } finally {
    await receiver.close();
    await hookflow.stop();
    await servers.stop();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
