import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createServices, startApiServer, type RunningApi } from './app';
import { ConfigError, liveConfigOf, loadConfig, urlPolicyOf, type Config } from './config';
import { createSecretBox, generateEncryptionKey, type SecretBox } from './secret-box';
import { connectMongo, type Mongo } from './db/mongo';
import { createLogger } from './log';
import {
  connectClient,
  connectWorker,
  ensureMaintenanceSchedule,
  ensureNamespaceRetention,
  ensureSearchAttributes,
  loadTemporalTarget,
  type TemporalTarget,
} from './temporal';
import { setMetricsRecording, watchEndpointStatuses } from './observability/metrics';
import { startOpsServer } from './observability/ops-http';
import { createReadiness } from './observability/readiness';
import { sdkPrometheusMetrics } from './observability/sdk-metrics';
import { startTracing } from './observability/tracing';
import { generateApiKey, type TenantService } from './tenants';
import { createWorker } from './worker';
import { loadWorkflowBundle } from './workflow-bundle';
import { createNotifier } from './notify/channels';
import { openLiveEvents } from './live/collection';

/** Loads the config or exits with the message that names the wrong variable. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

export interface Part {
  name: string;
  stop(): Promise<void>;
}

export interface Addresses {
  temporal: TemporalTarget;
  mongoUri: string;
}

/**
 * `npm run worker` and `npm run api` default to servers on this machine's standard ports; the
 * Temporal connection (TLS, API key, profile) is loaded as Temporal's own tools do.
 */
export const addressesOf = (config: Config): Addresses => ({
  temporal: loadTemporalTarget(config.TEMPORAL_ADDRESS ?? '127.0.0.1:7233'),
  mongoUri: config.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/',
});

/**
 * The Temporal SDK logs through pino, at warn and above: its bundling chatter is not for operators.
 * Its own metrics (task slots, schedule-to-start latency, sticky cache) go to the core's Prometheus
 * exporter on HOOKFLOW_SDK_METRICS_PORT, unless that is 0.
 */
function installTemporalRuntime(config: Config, log: Logger): void {
  const sdkLog = log.child({ component: 'temporal-sdk' });
  const bindAddress = !config.HOOKFLOW_METRICS || config.HOOKFLOW_SDK_METRICS_PORT === 0 ? undefined : hostPort(config.HOST, config.HOOKFLOW_SDK_METRICS_PORT);
  Runtime.install({
    logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
      const method = level === 'ERROR' ? 'error' : level === 'WARN' ? 'warn' : 'info';
      sdkLog[method](meta ?? {}, message);
    }),
    ...(bindAddress ? { telemetryOptions: { metrics: sdkPrometheusMetrics(bindAddress) } } : {}),
  });
  if (bindAddress) log.info({ address: `http://${bindAddress}/metrics` }, 'Temporal SDK metrics exported');
}

const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

export interface WorkerPartOptions {
  /** Serve /metrics, /healthz and /readyz on HOOKFLOW_METRICS_PORT; `npm start` serves them on the API's port instead. */
  opsServer: boolean;
}

export async function startWorkerPart(
  config: Config,
  log: Logger,
  addresses: Addresses,
  mongo: Mongo,
  options: WorkerPartOptions = { opsServer: true },
): Promise<Part & { eagerClient: Client }> {
  installTemporalRuntime(config, log);
  setMetricsRecording(config.HOOKFLOW_METRICS);
  const tracing = startTracing('hookflow-worker', log);
  const { namespace } = addresses.temporal;
  const client = await connectClient(addresses.temporal, { interceptors: tracing.clientInterceptors });
  await ensureSearchAttributes(client, namespace, log);
  await ensureNamespaceRetention(client, namespace, config.HOOKFLOW_RETENTION, log);
  await ensureMaintenanceSchedule(
    client,
    { taskQueue: config.TEMPORAL_TASK_QUEUE, intervalMs: config.HOOKFLOW_MAINTENANCE_INTERVAL, retentionMs: config.HOOKFLOW_RETENTION },
    log,
  );
  // Created with its configured size before the first event is published into it.
  await openLiveEvents(mongo.db, config.HOOKFLOW_LIVE_EVENTS_MAX_BYTES);
  const connection = await connectWorker(addresses.temporal);
  const ops = options.opsServer
    ? await startOpsServer({
        host: config.HOST,
        port: config.HOOKFLOW_METRICS_PORT,
        readiness: createReadiness({ temporal: addresses.temporal, mongo: mongo.db }),
      })
    : undefined;
  if (ops) log.info({ address: `http://${hostPort(config.HOST, ops.port)}/metrics` }, 'worker metrics and health served');
  const worker = await createWorker({
    tracing: tracing.workerOptions,
    connection,
    temporal: client,
    notifier: (agent) => createNotifier(config, agent, log),
    secretBox: secretBoxOf(config),
    urlPolicy: urlPolicyOf(config),
    maxInFlightPerEndpoint: config.HOOKFLOW_MAX_IN_FLIGHT_PER_ENDPOINT,
    maxConcurrentActivities: config.HOOKFLOW_WORKER_MAX_ACTIVITIES,
    namespace,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    db: mongo.collections,
    log,
    deliveryTimeoutMs: config.HOOKFLOW_DELIVERY_TIMEOUT_MS,
    responseBodyLimit: config.HOOKFLOW_RESPONSE_BODY_LIMIT,
    workflowBundle: await loadWorkflowBundle(config.HOOKFLOW_CACHE_DIR, log, { tracing: tracing.enabled }),
    workflowWatchdog: config.HOOKFLOW_WORKFLOW_WATCHDOG,
  });
  const running = worker.run();
  running.catch((error) => log.fatal({ err: error }, 'worker stopped'));
  log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker polling');
  return {
    name: 'worker',
    // A client on the worker's own connection: starts through it can be eager (the API of `npm start`).
    eagerClient: new Client({ connection, namespace, ...(tracing.clientInterceptors ? { interceptors: tracing.clientInterceptors } : {}) }),
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await ops?.close();
      await connection.close();
      await client.connection.close();
      await tracing.shutdown();
    },
  };
}

export async function startApiPart(
  config: Config,
  log: Logger,
  addresses: Addresses,
  mongo: Mongo,
  options: { graphiqlApiKey?: string; eagerClient?: Client } = {},
): Promise<Part & { api: RunningApi }> {
  setMetricsRecording(config.HOOKFLOW_METRICS);
  const tracing = startTracing('hookflow-api', log);
  // In the worker's process the API uses the worker's connection, and starts message workflows eagerly.
  const { eagerClient, ...apiOptions } = options;
  const temporal = eagerClient ?? (await connectClient(addresses.temporal, { interceptors: tracing.clientInterceptors }));
  watchEndpointStatuses(mongo.collections.endpoints);
  const readiness = createReadiness({ temporal: addresses.temporal, mongo: mongo.db });
  const services = createServices({
    db: mongo.collections,
    temporal,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    maxPayloadBytes: config.HOOKFLOW_MAX_PAYLOAD_BYTES,
    orderingKeyIdleMs: config.HOOKFLOW_ORDERING_KEY_IDLE,
    eagerStart: eagerClient !== undefined && config.HOOKFLOW_EAGER_START,
    secretBox: secretBoxOf(config),
    urlPolicy: urlPolicyOf(config),
    rotationOverlapMs: config.HOOKFLOW_SECRET_ROTATION_OVERLAP,
  });
  const api = await startApiServer({
    services,
    db: mongo.collections,
    live: liveConfigOf(config),
    log,
    host: config.HOST,
    port: config.PORT,
    adminToken: config.HOOKFLOW_ADMIN_TOKEN,
    maxRequestBytes: config.HOOKFLOW_MAX_REQUEST_BYTES,
    readiness,
    ...apiOptions,
  });
  return {
    name: 'api',
    api,
    async stop() {
      await api.close();
      await readiness.close();
      // The worker's connection is closed by the worker.
      if (!eagerClient) await temporal.connection.close();
      await tracing.shutdown();
    },
  };
}

/** Endpoint secrets are sealed with HOOKFLOW_ENCRYPTION_KEY; without one the API and worker cannot run. */
function secretBoxOf(config: Config): SecretBox {
  if (!config.HOOKFLOW_ENCRYPTION_KEY) {
    process.stderr.write('Invalid configuration:\n  - HOOKFLOW_ENCRYPTION_KEY: required to encrypt endpoint secrets (openssl rand -base64 32)\n');
    process.exit(1);
  }
  return createSecretBox(config.HOOKFLOW_ENCRYPTION_KEY);
}

/**
 * For the embedded stack: the encryption key and the admin token, unless set, are generated once and
 * kept in the data directory (mode 0600), so that a restart reads the same ones.
 */
export function embeddedSecrets(config: Config): Config {
  const kept = (file: string, generate: () => string) => {
    const full = path.join(config.HOOKFLOW_DATA_DIR, file);
    if (!existsSync(full)) writeFileSync(full, `${generate()}\n`, { mode: 0o600 });
    return readFileSync(full, 'utf8').trim();
  };
  mkdirSync(config.HOOKFLOW_DATA_DIR, { recursive: true });
  return {
    ...config,
    HOOKFLOW_ENCRYPTION_KEY: config.HOOKFLOW_ENCRYPTION_KEY ?? kept('encryption-key', generateEncryptionKey),
    HOOKFLOW_ADMIN_TOKEN: config.HOOKFLOW_ADMIN_TOKEN ?? kept('admin-token', () => `hfadmin_${generateApiKey().slice(3)}`),
  };
}

/**
 * The first tenant's key: HOOKFLOW_API_KEY if set; else the key kept in the data directory; else a
 * new one, kept there (mode 0600) when a data directory is in use, and printed by the caller.
 */
export async function bootstrapApiKey(config: Config, tenants: TenantService, keepInDataDir: boolean): Promise<{ apiKey: string | null; source: string }> {
  if (config.HOOKFLOW_API_KEY) {
    await tenants.ensureDefaultTenant(config.HOOKFLOW_API_KEY);
    return { apiKey: config.HOOKFLOW_API_KEY, source: 'HOOKFLOW_API_KEY' };
  }
  const keyFile = path.join(config.HOOKFLOW_DATA_DIR, 'api-key');
  if (keepInDataDir && existsSync(keyFile)) {
    const apiKey = readFileSync(keyFile, 'utf8').trim();
    await tenants.ensureDefaultTenant(apiKey);
    return { apiKey, source: keyFile };
  }
  if (await tenants.hasTenants()) {
    return { apiKey: null, source: 'already issued (set HOOKFLOW_API_KEY to add a known key)' };
  }
  const apiKey = generateApiKey();
  await tenants.ensureDefaultTenant(apiKey);
  if (keepInDataDir) {
    mkdirSync(config.HOOKFLOW_DATA_DIR, { recursive: true });
    writeFileSync(keyFile, `${apiKey}\n`, { mode: 0o600 });
    return { apiKey, source: `generated, kept in ${keyFile}` };
  }
  return { apiKey, source: 'generated; shown once, only its hash is stored' };
}

/**
 * `npm run worker` and `npm run api`: config, logger, MongoDB, then `start` adds the role's parts. A
 * signal or a failed start stops what was started, in reverse order.
 */
export function runEntryPoint(role: string, start: (config: Config, log: Logger, addresses: Addresses, mongo: Mongo, parts: Part[]) => Promise<void>): void {
  const config = loadConfigOrExit();
  const log = createRootLogger(config);
  const parts: Part[] = [];
  const shutdown = stopOnSignals(log, parts);
  const addresses = addressesOf(config);
  (async () => {
    const mongo = await connectMongoPart(config, addresses.mongoUri);
    parts.push(mongo);
    await start(config, log, addresses, mongo, parts);
  })().catch((error) => {
    process.stderr.write(`hookflow ${role} failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
    void shutdown('start-up failed', 1);
  });
}

/** Stops the parts in reverse order on SIGINT or SIGTERM, then exits; the returned function does the same. */
export function stopOnSignals(log: Logger, parts: Part[]): (reason: string, exitCode: number) => Promise<void> {
  let stopping = false;
  const stop = async (reason: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    log.info({ reason }, 'stopping');
    for (const part of [...parts].reverse()) {
      try {
        await part.stop();
      } catch (error) {
        log.error({ err: error, part: part.name }, 'error while stopping');
      }
    }
    process.exit(exitCode);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  return stop;
}

export function createRootLogger(config: Config): Logger {
  return createLogger(config.LOG_LEVEL);
}

export async function connectMongoPart(config: Config, uri: string): Promise<Mongo & Part> {
  const mongo = await connectMongo(uri, config.MONGODB_DB);
  return { ...mongo, name: 'mongodb client', stop: () => mongo.close() };
}
