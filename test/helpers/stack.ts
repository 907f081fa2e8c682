import { randomUUID } from 'node:crypto';
import { Runtime, DefaultLogger, type Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import pino from 'pino';
import { createServices, startApiServer, type RunningApi } from '../../src/app';
import { connectMongo, type Mongo } from '../../src/db/mongo';
import { connectClient, connectWorker } from '../../src/temporal';
import { generateApiKey } from '../../src/tenants';
import { createWorker } from '../../src/worker';
import { loadConfig } from '../../src/config';
import { createNotifier } from '../../src/notify/channels';
import type { Services } from '../../src/api/context';
import type { MaintenanceInput, MaintenanceReport } from '../../workflows/maintenance-types';

let runtimeInstalled = false;

export interface GraphQLResponse<T = any> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
}

export interface TestStack {
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
export async function startStack(options: { deliveryTimeoutMs?: number; notifyEnv?: Record<string, string> } = {}): Promise<TestStack> {
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
  // Notification channels are configured exactly as in production, from environment variables.
  const notifyConfig = loadConfig({ ...options.notifyEnv });
  const worker = await createWorker({
    connection,
    temporal,
    notifier: (agent) => createNotifier(notifyConfig, agent, log),
    namespace: 'default',
    taskQueue,
    db: mongo.collections,
    log,
    deliveryTimeoutMs: options.deliveryTimeoutMs ?? 15_000,
    responseBodyLimit: 4096,
    workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! },
  });
  const running = worker.run();
  const services = createServices({ db: mongo.collections, temporal, taskQueue, maxPayloadBytes: 256 * 1024 });
  const apiKey = generateApiKey();
  await services.tenants.ensureDefaultTenant(apiKey);
  const api = await startApiServer({ services, log, host: '127.0.0.1', port: 0 });

  const stack: TestStack = {
    apiKey,
    async useNewTenant() {
      const tenant = await services.tenants.createTenant(`test-${randomUUID().slice(0, 8)}`);
      stack.apiKey = tenant.apiKey;
      return tenant;
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
