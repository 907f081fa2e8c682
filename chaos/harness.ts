/**
 * Real servers and real Hookflow processes that can be killed and restarted: the harness behind
 * `npm run chaos` and its fast subset in `npm test`. Everything listens on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, projectRoot } from '../src/config';
import { connectMongo, type Mongo } from '../src/db/mongo';
import { ensureFerretDb, ensureTemporalServer } from '../src/dev/tools';
import { freePort, startFerretDb, startTemporalDevServer, waitForPort, type ChildServer } from '../src/dev/servers';
import { generateEncryptionKey } from '../src/secret-box';

export interface Servers {
  temporalAddress: string;
  mongoUri: string;
  restartTemporal(downMs?: number): Promise<void>;
  restartMongo(downMs?: number): Promise<void>;
  /** The server processes, for resource figures. */
  pids(): { temporal: number; mongo: number };
  stop(): Promise<void>;
}

/** Peak resident memory (VmHWM) and CPU seconds (user + system) of a live process, from /proc. */
export function processResources(pid: number | undefined): { peakRssMb: number; currentRssMb: number; cpuSeconds: number } | null {
  if (!pid) return null;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const current = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const ticks = Number(stat[11]) + Number(stat[12]);
    return { peakRssMb: Math.round(hwm / 1024), currentRssMb: Math.round(current / 1024), cpuSeconds: ticks / 100 };
  } catch {
    return null;
  }
}

/**
 * A free port below the kernel's ephemeral range (32768 and up on Linux), for a server that is stopped
 * and started again on it. A port from that range can be taken while the server is down: the clients'
 * reconnection attempts get local ports from it, and one that draws the server's own port connects to
 * itself (a TCP simultaneous open) and holds it. What one chaos run saw fits that (not proven): the
 * API's MongoDB client failed server selection for five minutes after FerretDB's restart on port 32889
 * ("connection to 127.0.0.1:32889 closed"), and a re-run passed.
 */
async function restartablePort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  return freePort();
}

/** A Temporal dev server on a file database and FerretDB on SQLite, both restartable on the same port and files. */
export async function startServers(dir?: string): Promise<Servers> {
  const { HOOKFLOW_CACHE_DIR } = loadConfig({});
  const say = (line: string) => process.stderr.write(`[chaos] ${line}\n`);
  // BENCH_FERRETDB_BINARY: another FerretDB build (an earlier patch set), to compare two in one session.
  const [temporalServer, ferretBinary] = [
    await ensureTemporalServer(HOOKFLOW_CACHE_DIR, say),
    process.env.BENCH_FERRETDB_BINARY ?? (await ensureFerretDb(HOOKFLOW_CACHE_DIR, say)),
  ];
  const own = dir === undefined;
  const root = dir ?? mkdtempSync(path.join(os.tmpdir(), 'hookflow-chaos-'));
  const [temporalPort, mongoPort] = [await restartablePort(), await restartablePort()];
  const startTemporal = () =>
    startTemporalDevServer({
      binary: temporalServer.binary,
      kind: temporalServer.kind,
      port: temporalPort,
      uiPort: null,
      dbFile: path.join(root, 'temporal.db'),
      namespace: 'default',
    });
  const startMongo = () => startFerretDb({ binary: ferretBinary, port: mongoPort, sqliteDir: path.join(root, 'ferretdb') });
  let temporal: ChildServer = await startTemporal();
  let ferret: ChildServer & { uri: string } = await startMongo();
  return {
    temporalAddress: `127.0.0.1:${temporalPort}`,
    mongoUri: ferret.uri,
    async restartTemporal(downMs = 1000) {
      await temporal.stop();
      await sleep(downMs);
      temporal = await startTemporal();
    },
    async restartMongo(downMs = 1000) {
      await ferret.stop();
      await sleep(downMs);
      ferret = await startMongo();
    },
    pids: () => ({ temporal: temporal.pid, mongo: ferret.pid }),
    async stop() {
      await Promise.all([temporal.stop(), ferret.stop()]);
      if (own) rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Servers someone else runs (the test run's, or production-like ones): used, never restarted or stopped. */
export function externalServers(temporalAddress: string, mongoUri: string): Servers {
  const refuse = () => Promise.reject(new Error('servers run elsewhere are not restarted here'));
  return { temporalAddress, mongoUri, restartTemporal: refuse, restartMongo: refuse, pids: () => ({ temporal: 0, mongo: 0 }), stop: async () => undefined };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every process started here; none may outlive the run, whatever happens to it. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** `npm run worker` or `npm run api` as a child process of its own, so that it can be SIGKILLed. */
export class HookflowProcess {
  private child: ChildProcess | null = null;
  private output: string[] = [];

  constructor(
    /** `one`: `npm start`'s shape, the API and the worker in one process (src/main.ts on external servers). */
    readonly role: 'worker' | 'api' | 'one',
    private readonly env: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    const script = path.join(projectRoot, 'src', { worker: 'worker-main.ts', api: 'api-main.ts', one: 'main.ts' }[this.role]);
    const tsx = path.join(projectRoot, 'node_modules', '.bin', 'tsx');
    this.output = [];
    // The worker logs at info level, which includes the line that says it polls.
    const env = { ...process.env, ...this.env, ...(this.role === 'worker' ? { LOG_LEVEL: 'info' } : {}) };
    const child = spawn(tsx, [script], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: false });
    this.child = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (this.output.length > 200) this.output.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${this.role} exited at start:\n${this.output.join('')}`);
      if (this.role !== 'worker' && (await portOpen(Number(this.env.PORT)))) return;
      if (this.role === 'worker' && this.output.join('').includes('worker polling')) return;
      if (Date.now() > deadline) throw new Error(`${this.role} did not start in 120 s:\n${this.output.join('')}`);
      await sleep(100);
    }
  }

  get pid(): number | undefined {
    return this.child?.pid ?? undefined;
  }

  /** Peak resident memory (VmHWM) and CPU seconds of the Node process (tsx runs it as its child). */
  resources(): { peakRssMb: number; currentRssMb: number; cpuSeconds: number } | null {
    return processResources(this.nodePid());
  }

  private nodePid(): number | undefined {
    const pid = this.child?.pid;
    if (!pid) return undefined;
    try {
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      return children[0] ?? pid;
    } catch {
      return pid;
    }
  }

  /** SIGKILL: no chance to finish anything. tsx's own child is killed too. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const inner = this.nodePid();
    if (inner && inner !== child.pid) {
      try {
        process.kill(inner, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    child.kill('SIGKILL');
    await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => void this.kill(), 15_000);
    await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
    clearTimeout(timer);
  }

  logs(): string {
    return this.output.join('');
  }
}

async function portOpen(port: number): Promise<boolean> {
  try {
    await waitForPort(port, 1);
    return true;
  } catch {
    return false;
  }
}

export interface Hookflow {
  apiUrl: string;
  apiKey: string;
  adminToken: string;
  worker: HookflowProcess;
  api: HookflowProcess;
  mongo: Mongo;
  stop(): Promise<void>;
}

/** A worker and an API, as processes, on their own database and task queue. */
export async function startHookflow(servers: Servers, options: { env?: Record<string, string>; shape?: 'split' | 'one' } = {}): Promise<Hookflow> {
  const port = await freePort();
  const suffix = randomUUID().slice(0, 8);
  const env: Record<string, string> = {
    TEMPORAL_ADDRESS: servers.temporalAddress,
    MONGODB_URI: servers.mongoUri,
    MONGODB_DB: `hookflow_chaos_${suffix}`,
    TEMPORAL_TASK_QUEUE: `chaos-${suffix}`,
    PORT: String(port),
    // Each run's worker serves its metrics and health on a free port, not the default 9464 that another
    // process on this machine may hold; the SDK's exporter stays off unless a caller asks for it.
    HOOKFLOW_METRICS_PORT: String(await freePort()),
    HOOKFLOW_SDK_METRICS_PORT: '0',
    HOOKFLOW_API_KEY: `hf_chaos_${randomUUID()}`,
    HOOKFLOW_ADMIN_TOKEN: `admin_${randomUUID()}`,
    HOOKFLOW_ENCRYPTION_KEY: generateEncryptionKey(),
    HOOKFLOW_ALLOW_HTTP: 'true',
    HOOKFLOW_ALLOW_PRIVATE_URLS: '127.0.0.0/8,::1/128',
    LOG_LEVEL: 'warn',
    ...options.env,
  };
  // In one process, `api` is that process and `worker` one never started (its resources read null).
  const one = options.shape === 'one';
  const worker = new HookflowProcess('worker', env);
  const api = new HookflowProcess(one ? 'one' : 'api', env);
  try {
    await Promise.all([one ? Promise.resolve() : worker.start(), api.start()]);
  } catch (error) {
    await Promise.all([worker.kill(), api.kill()]);
    throw error;
  }
  const mongo = await connectMongo(servers.mongoUri, env.MONGODB_DB!);
  return {
    apiUrl: `http://127.0.0.1:${port}/graphql`,
    apiKey: env.HOOKFLOW_API_KEY!,
    adminToken: env.HOOKFLOW_ADMIN_TOKEN!,
    worker,
    api,
    mongo,
    async stop() {
      await Promise.all([worker.stop(), api.stop()]);
      await mongo.close();
    },
  };
}

/** One GraphQL call; throws on a network error or an HTTP error status, returns GraphQL errors as data. */
export async function gql(hookflow: Pick<Hookflow, 'apiUrl' | 'apiKey'>, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const response = await fetch(hookflow.apiUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${hookflow.apiKey}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  });
  if (response.status >= 500) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

const SEND = 'mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }';

/** Why the latest failed sendMessage failed, for the report. */
export const lastSendError = { message: '' };

/** sendMessage once: the message id if it was acknowledged, null if the call failed in any way. */
export async function sendOnce(hookflow: Hookflow, input: Record<string, unknown>): Promise<string | null> {
  try {
    const result = await gql(hookflow, SEND, { input });
    if (result.errors) lastSendError.message = JSON.stringify(result.errors).slice(0, 300);
    return result.data?.sendMessage?.id ?? null;
  } catch (error) {
    lastSendError.message = (error as Error).message;
    return null;
  }
}

/** What a careful client does: retry a failed call with the same idempotency key until it is acknowledged. */
export async function sendUntilAccepted(hookflow: Hookflow, input: Record<string, unknown> & { idempotencyKey: string }, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const id = await sendOnce(hookflow, input);
    if (id) return id;
    if (Date.now() > deadline) throw new Error(`sendMessage ${input.idempotencyKey} not accepted in ${timeoutMs} ms; last error: ${lastSendError.message}`);
    await sleep(250);
  }
}

/** Runs `task` over `items` with at most `concurrency` at once. */
export async function pool<T, R>(items: T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      for (;;) {
        const index = next++;
        if (index >= items.length) return;
        results[index] = await task(items[index]!, index);
      }
    }),
  );
  return results;
}
