/**
 * `npm start`: the whole service on one machine. Temporal and MongoDB are the servers named by
 * TEMPORAL_ADDRESS and MONGODB_URI, or, where those are unset, a Temporal dev server and FerretDB
 * started here on files under HOOKFLOW_DATA_DIR.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ensureFerretDb, ensureTemporalServer } from './dev/tools';
import { startFerretDb, startTemporalDevServer, type ChildServer } from './dev/servers';
import { killStaleChildren, writeChildPids } from './dev/pidfile';
import { createTenantService } from './tenants';
import { loadTemporalTarget } from './temporal';
import type { Config } from './config';
import {
  bootstrapApiKey,
  embeddedSecrets,
  connectMongoPart,
  createRootLogger,
  loadConfigOrExit,
  startApiPart,
  startWorkerPart,
  stopOnSignals,
  type Part,
} from './runtime';

let shutdown: (reason: string, exitCode: number) => Promise<void> = async (_, code) => process.exit(code);

async function main(): Promise<void> {
  const loaded = loadConfigOrExit();
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const embedded = !loaded.TEMPORAL_ADDRESS && !loaded.MONGODB_URI;
  const config = embedded ? embeddedDefaults(loaded, say) : loaded;
  const log = createRootLogger(config);
  const dataDir = path.resolve(config.HOOKFLOW_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const parts: Part[] = [];
  shutdown = stopOnSignals(log, parts);

  killStaleChildren(dataDir, say);
  const children: ChildServer[] = [];
  const asPart = (child: ChildServer): Part => ({ name: child.name, stop: () => child.stop() });

  let temporalAddress = config.TEMPORAL_ADDRESS;
  let uiUrl = 'your Temporal Web UI';
  if (!temporalAddress) {
    const { binary, kind } = await ensureTemporalServer(config.HOOKFLOW_CACHE_DIR, say, config.HOOKFLOW_TEMPORAL_SERVER);
    say(`starting Temporal ${kind === 'launcher' ? 'server' : 'dev server'} on 127.0.0.1:${config.HOOKFLOW_DEV_TEMPORAL_PORT} (state in ${dataDir}/temporal)…`);
    const server = await startTemporalDevServer({
      binary,
      kind,
      port: config.HOOKFLOW_DEV_TEMPORAL_PORT,
      uiPort: config.HOOKFLOW_DEV_TEMPORAL_UI_PORT,
      dbFile: path.join(dataDir, 'temporal', 'temporal.db'),
      namespace: config.TEMPORAL_NAMESPACE,
    });
    children.push(server);
    parts.push(asPart(server));
    temporalAddress = `127.0.0.1:${config.HOOKFLOW_DEV_TEMPORAL_PORT}`;
    uiUrl = `http://127.0.0.1:${config.HOOKFLOW_DEV_TEMPORAL_UI_PORT}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows`;
  }

  let mongoUri = config.MONGODB_URI;
  if (!mongoUri) {
    const binary = await ensureFerretDb(config.HOOKFLOW_CACHE_DIR, say);
    say(`starting FerretDB on 127.0.0.1:${config.HOOKFLOW_DEV_MONGODB_PORT} (state in ${dataDir}/ferretdb)…`);
    const server = await startFerretDb({ binary, port: config.HOOKFLOW_DEV_MONGODB_PORT, sqliteDir: path.join(dataDir, 'ferretdb') });
    children.push(server);
    parts.push(asPart(server));
    mongoUri = server.uri;
  }
  writeChildPids(dataDir, children);

  // The embedded dev server is plaintext; a configured TEMPORAL_ADDRESS brings its TLS and API key settings.
  const addresses = {
    temporal: config.TEMPORAL_ADDRESS ? loadTemporalTarget(temporalAddress) : { address: temporalAddress, namespace: config.TEMPORAL_NAMESPACE },
    mongoUri,
  };
  const mongo = await connectMongoPart(config, mongoUri);
  parts.push(mongo);
  const { apiKey, source } = await bootstrapApiKey(config, createTenantService(mongo.collections), true);
  // One process, one port: the API's serves the worker's metrics and health too.
  const worker = await startWorkerPart(config, log, addresses, mongo, { opsServer: false });
  parts.push(worker);
  const api = await startApiPart(config, log, addresses, mongo, {
    eagerClient: worker.eagerClient,
    ...(embedded && apiKey ? { graphiqlApiKey: apiKey } : {}),
  });
  parts.push(api);

  say('');
  say(`Hookflow is running.`);
  say(`  GraphQL API + GraphiQL: ${api.api.url}`);
  say(`  Temporal Web UI:        ${uiUrl}`);
  say(`  Metrics and health:     ${api.api.url.replace(/\/graphql$/, '')}/metrics  /healthz  /readyz`);
  if (config.HOOKFLOW_METRICS && config.HOOKFLOW_SDK_METRICS_PORT !== 0)
    say(`  Temporal SDK metrics:   http://${config.HOST}:${config.HOOKFLOW_SDK_METRICS_PORT}/metrics`);
  say(`  API key:                ${apiKey ?? '(not shown)'}  [${source}]`);
  say(`  Send it as:             Authorization: Bearer <api key>`);
  if (config.HOOKFLOW_ADMIN_TOKEN) say(`  Admin token:            kept in ${path.join(dataDir, 'admin-token')} or HOOKFLOW_ADMIN_TOKEN (tenants and keys)`);
  say(`Press Ctrl-C to stop.`);
}

/**
 * On one machine with embedded servers, endpoints are usually local test receivers: http and private
 * addresses are allowed unless the variables say otherwise, and the secrets are kept in the data directory.
 */
function embeddedDefaults(config: Config, say: (line: string) => void): Config {
  const withSecrets = embeddedSecrets(config);
  const allowHttp = process.env.HOOKFLOW_ALLOW_HTTP === undefined ? true : config.HOOKFLOW_ALLOW_HTTP;
  const allowPrivate = process.env.HOOKFLOW_ALLOW_PRIVATE_URLS === undefined ? 'true' : config.HOOKFLOW_ALLOW_PRIVATE_URLS;
  if (allowHttp && allowPrivate === 'true') {
    say(
      'embedded mode: endpoints may use http and private addresses (HOOKFLOW_ALLOW_HTTP=true, HOOKFLOW_ALLOW_PRIVATE_URLS=true); set them to false to test the SSRF guard',
    );
  }
  return { ...withSecrets, HOOKFLOW_ALLOW_HTTP: allowHttp, HOOKFLOW_ALLOW_PRIVATE_URLS: allowPrivate };
}

main().catch((error) => {
  process.stderr.write(`hookflow failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  void shutdown('start-up failed', 1);
});
