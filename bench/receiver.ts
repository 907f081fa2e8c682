/**
 * `npm run bench:receiver`: how many signed webhooks one receiver process (hookflow/receiver)
 * verifies, stores and acknowledges per second with each store, and how long an acknowledgement
 * takes, over loopback. Then how long it takes to process the backlog. The stores: memory; MongoDB
 * on FerretDB (started here, or MONGODB_URI); PostgreSQL at PG_URL (skipped if none answers).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { Pool } from 'undici';
import { loadConfig } from '../src/config';
import { ensureFerretDb } from '../src/dev/tools';
import { freePort, startFerretDb, type ChildServer } from '../src/dev/servers';
import { buildWebhookRequest, generateSecret } from '../src/webhooks/signing';
import { processResources } from '../chaos/harness';
import { summary } from './stats';

const MESSAGES = Number(process.env.BENCH_RECEIVER_MESSAGES ?? 3000);
const CONNECTIONS = Number(process.env.BENCH_RECEIVER_CONNECTIONS ?? 32);
const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const STORES = (process.env.BENCH_RECEIVER_STORES ?? 'memory,mongo,postgres').split(',');
const say = (line: string) => process.stderr.write(`[bench:receiver] ${line}\n`);
const root = path.resolve(__dirname, '..');

export interface ReceiverFigures {
  store: string;
  messages: number;
  connections: number;
  acksPerSecond: number;
  ackMs: ReturnType<typeof summary>;
  /** From the first request to the last message processed. */
  processedPerSecond: number;
  /** Share of one core the receiver process used while acknowledging. */
  receiverCpu: number;
  /** Acknowledgements per second of the receiver's own CPU: what a core it had to itself would give. */
  acksPerCpuSecond: number;
  /** The machine's 1-minute load average when the section ended (2 cores here: above 2, it was shared). */
  loadAverage: number;
}

async function startReceiver(store: string, env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/receiver-process.ts'], {
    cwd: root,
    env: { ...process.env, ...env, STORE: store, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && resolve());
    child.once('exit', (code) => reject(new Error(`receiver (${store}) exited with ${code}`)));
  });
  return { child, port };
}

async function measure(store: string, env: Record<string, string>): Promise<ReceiverFigures> {
  const secret = generateSecret();
  const { child, port } = await startReceiver(store, { ...env, SECRET: secret });
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS });
  try {
    // Signed before the clock starts: the sender's work is not the receiver's.
    const requests = Array.from({ length: MESSAGES }, (_, i) =>
      buildWebhookRequest({
        secrets: [secret],
        messageId: `msg_${randomUUID()}`,
        eventType: 'order.updated',
        occurredAt: new Date(),
        payload: { orderId: `O-${i % 100}`, lines: [{ sku: 'A', qty: 1 }] },
        now: new Date(),
      }),
    );
    const post = async (request: (typeof requests)[number]) => {
      const started = performance.now();
      const response = await pool.request({ method: 'POST', path: '/webhooks', headers: request.headers, body: request.body });
      await response.body.dump();
      if (response.statusCode !== 202) throw new Error(`receiver answered ${response.statusCode}`);
      return performance.now() - started;
    };
    for (const request of requests.slice(0, 50)) await post(request); // warm-up, not counted
    const timed = requests.slice(50);
    const cpuBefore = processResources(child.pid)?.cpuSeconds ?? 0;
    const started = performance.now();
    const latencies: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (next < timed.length) latencies.push(await post(timed[next++]!));
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = ((processResources(child.pid)?.cpuSeconds ?? cpuBefore) - cpuBefore) / seconds;
    for (;;) {
      const stats = (await (await pool.request({ method: 'GET', path: '/stats' })).body.json()) as { processed: number };
      if (stats.processed >= MESSAGES) break;
      if (process.env.BENCH_DEBUG) say(`processed ${stats.processed} after ${Math.round(performance.now() - started)} ms`);
      await new Promise((r) => setTimeout(r, process.env.BENCH_DEBUG ? 1000 : 50));
    }
    const processedSeconds = (performance.now() - started) / 1000;
    return {
      store,
      messages: timed.length,
      connections: CONNECTIONS,
      acksPerSecond: Math.round(timed.length / seconds),
      ackMs: summary(latencies.map((ms) => Math.round(ms * 10) / 10)),
      processedPerSecond: Math.round(timed.length / processedSeconds),
      receiverCpu: Math.round(cpu * 100) / 100,
      acksPerCpuSecond: Math.round(timed.length / seconds / cpu),
      loadAverage: Math.round(os.loadavg()[0]! * 10) / 10,
    };
  } finally {
    await pool.close();
    child.kill('SIGKILL');
  }
}

async function postgresAvailable(): Promise<string | null> {
  const client = new PgClient({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function benchReceiver(mongoUri?: string): Promise<ReceiverFigures[]> {
  const figures: ReceiverFigures[] = [];
  const dbName = `bench_receiver_${randomUUID().slice(0, 8)}`;
  if (STORES.includes('memory')) {
    figures.push(await measure('memory', {}));
    say(`memory: ${JSON.stringify(figures.at(-1))}`);
  }
  if (STORES.includes('mongo'))
    await withMongo(mongoUri, async (uri) => {
      figures.push(await measure('mongo', { MONGODB_URI: uri, DB_NAME: dbName }));
      say(`mongo: ${JSON.stringify(figures.at(-1))}`);
    });
  if (STORES.includes('postgres'))
    await withPostgres(dbName, async () => {
      figures.push(await measure('postgres', { PG_URL, DB_NAME: dbName }));
      say(`postgres: ${JSON.stringify(figures.at(-1))}`);
    });
  return figures;
}

/** FerretDB started here and removed after, unless MONGODB_URI names a server. */
async function withMongo(mongoUri: string | undefined, run: (uri: string) => Promise<void>) {
  let ferret: ChildServer | null = null;
  let dir: string | null = null;
  if (!mongoUri) {
    const binary = await ensureFerretDb(loadConfig({}).HOOKFLOW_CACHE_DIR, say);
    dir = mkdtempSync(path.join(os.tmpdir(), 'bench-receiver-'));
    const started = await startFerretDb({ binary, port: await freePort(), sqliteDir: path.join(dir, 'ferretdb') });
    ferret = started;
    mongoUri = started.uri;
  }
  try {
    await run(mongoUri);
  } finally {
    await ferret?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** PostgreSQL at PG_URL in a schema of its own, dropped after; skipped, and said so, if none answers. */
async function withPostgres(schema: string, run: () => Promise<void>) {
  const unavailable = await postgresAvailable();
  if (unavailable) return say(`PostgreSQL skipped: nothing answers at PG_URL (${unavailable})`);
  try {
    await run();
  } finally {
    const client = new PgClient({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}

export function printReceiverFigures(figures: ReceiverFigures[]) {
  console.log(`\nhookflow/receiver, one process, ${figures[0]?.connections} connections, process() a no-op`);
  console.log('store     acks/s   ack p50   ack p99   processed/s   receiver CPU   acks per CPU-s   load avg');
  for (const f of figures) {
    console.log(
      `${f.store.padEnd(9)} ${String(f.acksPerSecond).padStart(6)} ${`${f.ackMs.p50} ms`.padStart(9)} ${`${f.ackMs.p99} ms`.padStart(9)} ${String(f.processedPerSecond).padStart(13)} ${`${Math.round(f.receiverCpu * 100)} %`.padStart(14)} ${String(f.acksPerCpuSecond).padStart(16)} ${String(f.loadAverage).padStart(10)}`,
    );
  }
}

if (require.main === module) {
  benchReceiver(process.env.MONGODB_URI).then(
    (figures) => {
      printReceiverFigures(figures);
      process.exit(0);
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
