import { randomUUID } from 'node:crypto';
import { Runtime, DefaultLogger, type Worker } from '@temporalio/worker';
import { Client } from '@temporalio/client';
import pino from 'pino';
import { createServices, startApiServer, type RunningApi } from '../../src/app';
import { connectMongo, type Mongo } from '../../src/db/mongo';
import { connectClient, connectWorker, type TemporalTarget } from '../../src/temporal';
import { createReadiness } from '../../src/observability/readiness';
import { startOpsServer } from '../../src/observability/ops-http';
import { watchEndpointStatuses } from '../../src/observability/metrics';
import type { Tracing } from '../../src/observability/tracing';
import { generateApiKey } from '../../src/tenants';
import { createWorker } from '../../src/worker';
import { liveConfigOf, loadConfig, urlPolicyOf } from '../../src/config';
import { openLiveEvents } from '../../src/live/collection';
import { createSecretBox, generateEncryptionKey, type SecretBox } from '../../src/secret-box';
import { createNotifier } from '../../src/notify/channels';
import type { Services } from '../../src/api/context';
import type { MaintenanceInput, MaintenanceReport } from '../../workflows/maintenance-types';

let runtimeInstalled = false;

export interface GraphQLResponse<T = any> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
}

export interface TestStack {
  adminToken: string;
  secretBox: SecretBox;
  /** The key `gql` sends by default; `useNewTenant` replaces it. */
  apiKey: string;
  /** Switches `gql` to a fresh tenant, so that each test sees only its own endpoints. */
  useNewTenant(): Promise<{ tenantId: string; apiKey: string }>;
  api: RunningApi;
  mongo: Mongo;
  temporal: Client;
  worker: Worker;
  /** Stops the worker and starts a new one on the same task queue. */
  restartWorker(): Promise<void>;
  services: Services;
  taskQueue: string;
  /** Runs one maintenance pass now, as the schedule would, and returns its report. */
  runMaintenance(input?: Partial<MaintenanceInput>): Promise<MaintenanceReport>;
  /** The worker's operations server (/metrics, /healthz, /readyz), as `npm run worker` serves it. */
  opsUrl: string;
  /** POSTs a GraphQL request to the real HTTP API; `apiKey: null` sends no Authorization header. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, apiKey?: string | null): Promise<GraphQLResponse<T>>;
  stop(): Promise<void>;
}

/**
 * A whole Hookflow against the run's real Temporal and FerretDB servers: its own database and task
 * queue, a worker on the pre-built bundle, and the GraphQL API on a free port of 127.0.0.1.
 */
/**
 * The configuration every test stack runs with: production's, except that endpoints on loopback are
 * allowed over http (the test receivers), which the SSRF guard refuses by default.
 */
export const testEnv = (): Record<string, string> => ({
  HOOKFLOW_ALLOW_HTTP: 'true',
  HOOKFLOW_ALLOW_PRIVATE_URLS: '127.0.0.0/8,::1/128',
  HOOKFLOW_ENCRYPTION_KEY: generateEncryptionKey(),
  HOOKFLOW_ADMIN_TOKEN: `admin-${randomUUID()}`,
});

export interface StackOptions {
  deliveryTimeoutMs?: number;
  env?: Record<string, string>;
  /** Another Temporal connection than the run's plaintext dev server (the TLS tests). */
  temporal?: TemporalTarget;
  /** Another MongoDB than the run's FerretDB (the readiness test stops its own). */
  mongoUri?: string;
  /** Tracing from src/observability/tracing.ts; the worker then runs this workflow bundle (the traced one). */
  tracing?: { tracing: Tracing; workflowBundlePath: string };
  /** Passed to Runtime.install, by the first stack of a test file only (the SDK metrics test). */
  runtime?: Parameters<typeof Runtime.install>[0];
  /** The API's services on the worker's connection, starting message workflows eagerly, as `npm start` runs them. */
  eagerStart?: boolean;
}

export async function startStack(options: StackOptions = {}): Promise<TestStack> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN'), ...options.runtime });
    runtimeInstalled = true;
  }
  const target = options.temporal ?? { address: process.env.TEST_TEMPORAL_ADDRESS!, namespace: 'default' };
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const suffix = randomUUID().slice(0, 8);
  const mongo = await connectMongo(options.mongoUri ?? process.env.TEST_MONGODB_URI!, `hookflow_test_${suffix}`);
  const temporal = await connectClient(target, { timeoutMs: 15_000, interceptors: options.tracing?.tracing.clientInterceptors });
  const taskQueue = `test-${suffix}`;
  const connection = await connectWorker(target, 15_000);
  const readiness = createReadiness({ temporal: target, mongo: mongo.db });
  const ops = await startOpsServer({ host: '127.0.0.1', port: 0, readiness });
  watchEndpointStatuses(mongo.collections.endpoints);
  // Configured exactly as in production, from environment variables.
  const config = loadConfig({ ...testEnv(), ...options.env });
  const secretBox = createSecretBox(config.HOOKFLOW_ENCRYPTION_KEY!);
  const urlPolicy = urlPolicyOf(config);
  await openLiveEvents(mongo.db, config.HOOKFLOW_LIVE_EVENTS_MAX_BYTES);
  const makeWorker = () =>
    createWorker({
      connection,
      temporal,
      notifier: (agent) => createNotifier(config, agent, log),
      secretBox,
      urlPolicy,
      maxInFlightPerEndpoint: config.HOOKFLOW_MAX_IN_FLIGHT_PER_ENDPOINT,
      namespace: 'default',
      taskQueue,
      db: mongo.collections,
      log,
      deliveryTimeoutMs: options.deliveryTimeoutMs ?? 15_000,
      responseBodyLimit: 4096,
      workflowWatchdog: config.HOOKFLOW_WORKFLOW_WATCHDOG,
      workflowBundle: { codePath: options.tracing?.workflowBundlePath ?? process.env.TEST_WORKFLOW_BUNDLE! },
      ...(options.tracing ? { tracing: options.tracing.tracing.workerOptions } : {}),
    });
  let worker = await makeWorker();
  let running = worker.run();
  const services = createServices({
    db: mongo.collections,
    // As `npm start` does: the API on the worker's own connection, starting message workflows eagerly.
    ...(options.eagerStart ? { temporal: new Client({ connection, namespace: 'default' }), eagerStart: true } : { temporal }),
    taskQueue,
    maxPayloadBytes: config.HOOKFLOW_MAX_PAYLOAD_BYTES,
    orderingKeyIdleMs: config.HOOKFLOW_ORDERING_KEY_IDLE,
    secretBox,
    urlPolicy,
    rotationOverlapMs: config.HOOKFLOW_SECRET_ROTATION_OVERLAP,
  });
  const apiKey = generateApiKey();
  await services.tenants.ensureDefaultTenant(apiKey);
  const api = await startApiServer({
    services,
    db: mongo.collections,
    live: liveConfigOf(config),
    log,
    host: '127.0.0.1',
    port: 0,
    adminToken: config.HOOKFLOW_ADMIN_TOKEN,
    maxRequestBytes: config.HOOKFLOW_MAX_REQUEST_BYTES,
    readiness,
  });

  const stack: TestStack = {
    apiKey,
    adminToken: config.HOOKFLOW_ADMIN_TOKEN!,
    secretBox,
    async useNewTenant() {
      const { tenantId, apiKey } = await services.tenants.createTenant(`test-${randomUUID().slice(0, 8)}`);
      stack.apiKey = apiKey.key;
      return { tenantId, apiKey: apiKey.key };
    },
    api,
    opsUrl: `http://127.0.0.1:${ops.port}`,
    runMaintenance(input = {}) {
      return temporal.workflow.execute('maintenance', {
        taskQueue,
        workflowId: `maintenance-${randomUUID()}`,
        args: [{ retentionMs: 7 * 24 * 60 * 60_000, minAgeMs: 60_000, ...input }],
      });
    },
    mongo,
    temporal,
    worker,
    async restartWorker() {
      // The SDK's default grace time is none: activities in flight are cancelled, as a crash would leave them.
      stack.worker.shutdown();
      await running.catch(() => undefined);
      worker = await makeWorker();
      stack.worker = worker;
      running = worker.run();
    },
    services,
    taskQueue,
    async gql(query, variables = {}, key = stack.apiKey) {
      const response = await fetch(api.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()) as GraphQLResponse;
    },
    async stop() {
      await api.close();
      await ops.close();
      worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
      await temporal.connection.close();
      await mongo.db.dropDatabase();
      await mongo.close();
    },
  };
  return stack;
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
