import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { ensureFerretDb, ensureTemporalServer } from '../src/dev/tools';
import { loadWorkflowBundle } from '../src/workflow-bundle';
import { pgUrl, probePostgres } from './helpers/postgres';
import { freePort, startFerretDb, startTemporalDevServer, type ChildServer } from '../src/dev/servers';

declare global {
  var hookflowTestServers: { servers: ChildServer[]; dir: string } | undefined;
}

/**
 * Starts one real Temporal dev server (in memory) and one FerretDB (SQLite in a temp dir) for the
 * whole run, and bundles the workflow code once (or takes the cached bundle, as a worker does). Test files reach them through environment variables.
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const say = (line: string) => process.stdout.write(`[test setup] ${line}\n`);
  const { HOOKFLOW_CACHE_DIR } = loadConfig({ ...process.env, MONGODB_URI: undefined, TEMPORAL_ADDRESS: undefined });
  const [temporalServer, ferretBinary] = [await ensureTemporalServer(HOOKFLOW_CACHE_DIR, say), await ensureFerretDb(HOOKFLOW_CACHE_DIR, say)];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hookflow-test-'));
  const [temporalPort, mongoPort] = [await freePort(), await freePort()];

  const [temporal, ferret, bundle, pgUnavailable] = await Promise.all([
    startTemporalDevServer({ binary: temporalServer.binary, kind: temporalServer.kind, port: temporalPort, uiPort: null, dbFile: null, namespace: 'default' }),
    startFerretDb({ binary: ferretBinary, port: mongoPort, sqliteDir: path.join(dir, 'ferretdb') }),
    loadWorkflowBundle(HOOKFLOW_CACHE_DIR, { info: () => undefined, warn: (_, message) => say(message) }),
    probePostgres(pgUrl()),
  ]);
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);

  globalThis.hookflowTestServers = { servers: [temporal, ferret], dir };
  process.env.TEST_TEMPORAL_ADDRESS = `127.0.0.1:${temporalPort}`;
  process.env.TEST_MONGODB_URI = ferret.uri;
  process.env.TEST_WORKFLOW_BUNDLE = bundlePath;
  // The receiver's PostgreSQL store is tested where a server answers, and skipped with this reason elsewhere.
  if (pgUnavailable) process.env.TEST_PG_UNAVAILABLE = pgUnavailable;
  else delete process.env.TEST_PG_UNAVAILABLE;
  say(`Temporal on 127.0.0.1:${temporalPort}, FerretDB on ${ferret.uri}, ready in ${Date.now() - started} ms`);
  if (pgUnavailable) say(`no PostgreSQL (${pgUnavailable}): the receiver's PostgreSQL tests are skipped`);
}
