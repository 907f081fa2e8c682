import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ALL_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

/** A server process the embedded stack started and must stop. */
export interface ChildServer {
  name: string;
  pid: number;
  stop(): Promise<void>;
}

const searchAttributeTypeNames: Record<string, string> = {
  KEYWORD: 'Keyword',
  KEYWORD_LIST: 'KeywordList',
  TEXT: 'Text',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
};

export interface TemporalDevOptions {
  binary: string;
  /** `launcher` is tools/temporal (server v1.32.2), which takes the same flags without `server start-dev`, and more. */
  kind?: 'dev-server' | 'launcher';
  port: number;
  /** null runs without the Web UI. */
  uiPort: number | null;
  /** null keeps everything in memory (tests); a file persists across restarts. */
  dbFile: string | null;
  namespace: string;
  dynamicConfig?: Record<string, unknown>;
}

/**
 * The embedded stack runs one worker process per task queue, so the task queues get one partition,
 * not the server's default four: every task then matches the waiting poll at once, instead of being
 * forwarded between partitions or written to the backlog first (npm run bench, README "Benchmark").
 */
export const SINGLE_WORKER_DYNAMIC_CONFIG: Record<string, unknown> = {
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
};

/**
 * The launcher's own settings: history shards spread workflows over several SQLite-backed queues, and
 * with WAL several SQLite connections let reads run beside the one writer.
 */
export const LAUNCHER_HISTORY_SHARDS = Number(process.env.HOOKFLOW_TEMPORAL_HISTORY_SHARDS ?? 4);
export const LAUNCHER_SQLITE_CONNECTIONS = Number(process.env.HOOKFLOW_TEMPORAL_SQLITE_CONNECTIONS ?? 4);

export async function startTemporalDevServer(options: TemporalDevOptions): Promise<ChildServer> {
  const launcher = options.kind === 'launcher';
  const args = [
    ...(launcher ? ['--history-shards', String(LAUNCHER_HISTORY_SHARDS), '--sqlite-max-conns', String(LAUNCHER_SQLITE_CONNECTIONS)] : ['server', 'start-dev']),
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--namespace',
    options.namespace,
    '--log-level',
    'error',
  ];
  args.push(...(options.uiPort === null ? ['--headless'] : ['--ui-port', String(options.uiPort)]));
  if (options.dbFile) {
    mkdirSync(path.dirname(options.dbFile), { recursive: true });
    // Without these pragmas the file-backed dev server is very slow.
    args.push('--db-filename', options.dbFile, '--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=OFF');
    // With several connections, a writer waits for another's lock instead of failing at once.
    if (launcher) args.push('--sqlite-pragma', 'busy_timeout=10000');
  }
  for (const key of ALL_SEARCH_ATTRIBUTES) {
    args.push('--search-attribute', `${key.name}=${searchAttributeTypeNames[key.type]}`);
  }
  for (const [key, value] of Object.entries({ ...SINGLE_WORKER_DYNAMIC_CONFIG, ...options.dynamicConfig })) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  const child = spawnServer(options.binary, args);
  await Promise.race([waitForPort(options.port, 120_000), exited(child, 'Temporal dev server')]);
  return handle('temporal', child);
}

export interface FerretDbOptions {
  binary: string;
  port: number;
  sqliteDir: string;
}

export async function startFerretDb(options: FerretDbOptions): Promise<ChildServer & { uri: string }> {
  const child = spawnServer(options.binary, ['-listen', `127.0.0.1:${options.port}`, '-sqlite-dir', options.sqliteDir]);
  const uri = await Promise.race([readyLine(child, 'ferretdb ready '), exited(child, 'FerretDB')]);
  return { ...handle('ferretdb', child), uri };
}

function spawnServer(binary: string, args: string[]): ChildProcess {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.setEncoding('utf8');
  const tail: string[] = [];
  child.stderr!.on('data', (chunk: string) => {
    tail.push(...chunk.split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 40));
  });
  (child as ChildProcess & { stderrTail: string[] }).stderrTail = tail;
  return child;
}

function exited(child: ChildProcess, name: string): Promise<never> {
  return new Promise((_, reject) => {
    child.once('error', (error) => reject(new Error(`${name} could not start: ${error.message}`)));
    child.once('exit', (code, signal) => {
      const tail = (child as ChildProcess & { stderrTail: string[] }).stderrTail.join('\n');
      reject(new Error(`${name} exited at start (code ${code}, signal ${signal}):\n${tail}`));
    });
  });
}

function readyLine(child: ChildProcess, prefix: string): Promise<string> {
  return new Promise((resolve) => {
    let buffered = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      const line = buffered.split('\n').find((l) => l.startsWith(prefix));
      if (line) resolve(line.slice(prefix.length).trim());
    });
  });
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function handle(name: string, child: ChildProcess): ChildServer {
  const done = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    name,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    },
  };
}

/** A free TCP port on loopback, for servers started by tests. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
