/**
 * /healthz and /readyz, without an API key, on the API's port and on the worker's ops port. The stack
 * runs on a FerretDB of its own, which the test stops and restarts (the run's shared one stays up).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { ensureFerretDb } from '../src/dev/tools';
import { freePort, startFerretDb, type ChildServer } from '../src/dev/servers';
import { eventually, startStack, type TestStack } from './helpers/stack';

let stack: TestStack;
let ferret: ChildServer & { uri: string };
let dir: string;
let port: number;
let binary: string;

const startOwnFerretDb = async () => (ferret = await startFerretDb({ binary, port, sqliteDir: path.join(dir, 'ferretdb') }));

beforeAll(async () => {
  const { HOOKFLOW_CACHE_DIR } = loadConfig({ ...process.env, MONGODB_URI: undefined, TEMPORAL_ADDRESS: undefined });
  binary = await ensureFerretDb(HOOKFLOW_CACHE_DIR, () => undefined);
  dir = mkdtempSync(path.join(os.tmpdir(), 'hookflow-health-'));
  port = await freePort();
  await startOwnFerretDb();
  stack = await startStack({ mongoUri: ferret.uri });
});
afterAll(async () => {
  await stack?.stop();
  await ferret?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const bases = () => ({ api: stack.api.url.replace(/\/graphql$/, ''), worker: stack.opsUrl });

async function get(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url);
  const text = await response.text();
  return { status: response.status, body: response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

test('/healthz answers 200 on both ports, with no API key', async () => {
  for (const base of Object.values(bases())) {
    expect(await get(`${base}/healthz`)).toEqual({ status: 200, body: { status: 'ok' } });
  }
});

test('/readyz is 200 while Temporal and MongoDB answer, 503 naming MongoDB while FerretDB is stopped, and 200 again after it restarts', async () => {
  for (const base of Object.values(bases())) {
    const ready = await get(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, checks: { temporal: { ok: true }, mongodb: { ok: true } } });
  }

  await ferret.stop();
  for (const base of Object.values(bases())) {
    const started = Date.now();
    const down = await get(`${base}/readyz`);
    // A probe answers within its own deadline (2 s a check), not the driver's server selection timeout.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(down.status).toBe(503);
    expect(down.body.ready).toBe(false);
    expect(down.body.checks.temporal.ok).toBe(true);
    expect(down.body.checks.mongodb.ok).toBe(false);
    expect(down.body.checks.mongodb.error).toEqual(expect.any(String));
  }
  // Alive all the same: liveness must not restart a process whose database is away.
  expect((await get(`${bases().api}/healthz`)).status).toBe(200);

  await startOwnFerretDb();
  for (const base of Object.values(bases())) {
    await eventually(async () => ((await get(`${base}/readyz`)).status === 200 ? true : undefined), 30_000, `${base}/readyz to be 200 again`);
  }
});

test('the worker ops port serves nothing else', async () => {
  expect((await get(`${stack.opsUrl}/graphql`)).status).toBe(404);
});
