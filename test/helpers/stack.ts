import { randomUUID } from 'node:crypto';
import { Runtime, DefaultLogger, type Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import pino from 'pino';
import { createServices, startApiServer, type RunningApi } from '../../src/app';
import { connectMongo, type Mongo } from '../../src/db/mongo';
import { connectClient, connectWorker } from '../../src/temporal';
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
  services: Services;
  taskQueue: string;
  /** Runs one maintenance pass now, as the schedule would, and returns its report. */
  runMaintenance(input?: Partial<MaintenanceInput>): Promise<MaintenanceReport>;
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

export async function startStack(options: { deliveryTimeoutMs?: number; env?: Record<string, string> } = {}): Promise<TestStack> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const temporalAddress = process.env.TEST_TEMPORAL_ADDRESS!;
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const suffix = randomUUID().slice(0, 8);
  const mongo = await connectMongo(process.env.TEST_MONGODB_URI!, `hookflow_test_${suffix}`);
  const temporal = await connectClient(temporalAddress, 'default');
  const taskQueue = `test-${suffix}`;
  const connection = await connectWorker(temporalAddress);
  // Configured exactly as in production, from environment variables.
  const config = loadConfig({ ...testEnv(), ...options.env });
  const secretBox = createSecretBox(config.HOOKFLOW_ENCRYPTION_KEY!);
  const urlPolicy = urlPolicyOf(config);
  await openLiveEvents(mongo.db, config.HOOKFLOW_LIVE_EVENTS_MAX_BYTES);
  const worker = await createWorker({
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
    workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! },
  });
  const running = worker.run();
  const services = createServices({
    db: mongo.collections,
    temporal,
    taskQueue,
    maxPayloadBytes: config.HOOKFLOW_MAX_PAYLOAD_BYTES,
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
      worker.shutdown();
      await running;
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
