import { Client, Connection, ScheduleAlreadyRunning, type ClientInterceptors, type TLSConfig } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { msToTs } from '@temporalio/common/lib/time';
import { NativeConnection } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import type { Logger } from 'pino';
import { ALL_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { MAINTENANCE_SCHEDULE_ID } from '../workflows/definitions';
import type { MaintenanceInput } from '../workflows/maintenance-types';

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
const indexedTypes: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** Retries the first connection for a while: the server may still be starting. */
async function retry<T>(what: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * Where and how to reach Temporal: the address and namespace, and, for a secured cluster, TLS (a CA,
 * a server name, a client certificate for mTLS), an API key (Temporal Cloud) and gRPC metadata.
 */
export interface TemporalTarget {
  address: string;
  namespace: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string | Buffer>;
}

/**
 * Loads the connection the way Temporal's own tools do (@temporalio/envconfig): the profile
 * `TEMPORAL_PROFILE` (or "default") of the TOML file `TEMPORAL_CONFIG_FILE` (or
 * ~/.config/temporalio/temporal.toml), overridden by `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`,
 * `TEMPORAL_API_KEY`, `TEMPORAL_TLS`, `TEMPORAL_TLS_*` and `TEMPORAL_GRPC_META_*`. An API key turns
 * TLS on. `fallbackAddress` is used where neither names an address (the embedded dev server).
 */
export function loadTemporalTarget(fallbackAddress: string, env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  } catch (error) {
    throw new Error(`cannot load the Temporal connection settings (TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE): ${(error as Error).message}`);
  }
  const { address, tls, apiKey, metadata } = loaded.connectionOptions;
  return {
    address: address ?? fallbackAddress,
    namespace: loaded.namespace ?? 'default',
    ...(tls === undefined || tls === null ? {} : { tls }),
    ...(typeof apiKey === 'string' ? { apiKey } : {}),
    ...(metadata ? { metadata } : {}),
  };
}

export const connectionOptionsOf = (target: TemporalTarget) => ({
  address: target.address,
  ...(target.tls === undefined ? {} : { tls: target.tls }),
  ...(target.apiKey === undefined ? {} : { apiKey: target.apiKey }),
  ...(target.metadata === undefined ? {} : { metadata: target.metadata }),
});

/** Says how the connection was made, for errors: "TLS", "mTLS", "API key" or "plaintext". */
export function describeSecurity(target: TemporalTarget): string {
  const tls = target.tls === true || (typeof target.tls === 'object' && target.tls !== null);
  const mtls = typeof target.tls === 'object' && target.tls?.clientCertPair !== undefined;
  if (target.apiKey) return 'TLS with an API key';
  return mtls ? 'mTLS (client certificate)' : tls ? 'TLS, no client certificate' : 'plaintext, no TLS';
}

const unreachable = (target: TemporalTarget) => `cannot reach Temporal at ${target.address} (${describeSecurity(target)})`;

export async function connectClient(target: TemporalTarget, options: { timeoutMs?: number; interceptors?: ClientInterceptors } = {}): Promise<Client> {
  const connection = await retry(unreachable(target), options.timeoutMs ?? 60_000, async () => {
    const c = await Connection.connect({ ...connectionOptionsOf(target), connectTimeout: 5_000 });
    try {
      await c.workflowService.describeNamespace({ namespace: target.namespace });
    } catch (error) {
      await c.close();
      throw error;
    }
    return c;
  });
  return new Client({ connection, namespace: target.namespace, ...(options.interceptors ? { interceptors: options.interceptors } : {}) });
}

export async function connectWorker(target: TemporalTarget, timeoutMs = 60_000): Promise<NativeConnection> {
  return retry(unreachable(target), timeoutMs, () => NativeConnection.connect(connectionOptionsOf(target)));
}

/**
 * Registers the search attributes the workflows set, where a namespace lacks them. A namespace that
 * refuses (Temporal Cloud registers them through its own control plane: `tcld namespace
 * search-attributes add`) is logged with the attributes to create, and the worker goes on: workflows
 * that set a missing attribute fail their task until it exists.
 */
export async function ensureSearchAttributes(client: Client, namespace: string, log: Logger): Promise<void> {
  const { operatorService } = client.connection;
  const wanted = ALL_SEARCH_ATTRIBUTES.map((key) => `${key.name} (${key.type})`);
  let missing: Record<string, temporal.api.enums.v1.IndexedValueType>;
  try {
    const existing = await operatorService.listSearchAttributes({ namespace });
    missing = {};
    for (const key of ALL_SEARCH_ATTRIBUTES) {
      if (!existing.customAttributes?.[key.name]) missing[key.name] = indexedTypes[key.type]!;
    }
    if (Object.keys(missing).length === 0) return;
    await operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  } catch (error) {
    log.warn(
      { err: error, namespace, searchAttributes: wanted },
      `could not check or register the search attributes of namespace "${namespace}" (the server refused: ${(error as Error).message}). ` +
        `On Temporal Cloud, create them once with its control plane (tcld namespace search-attributes add, or the Cloud UI): ${wanted.join(', ')}`,
    );
    return;
  }
  log.info({ added: Object.keys(missing) }, 'registered Temporal search attributes');
}

/**
 * The maintenance workflow runs on a Temporal Schedule, created here or brought up to date with the
 * configured interval and retention. It can be paused from the Temporal UI; an update keeps that state.
 */
export async function ensureMaintenanceSchedule(
  client: Client,
  options: { taskQueue: string; intervalMs: number; retentionMs: number },
  log: Logger,
): Promise<void> {
  const input: MaintenanceInput = { retentionMs: options.retentionMs, minAgeMs: 60_000 };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'maintenance',
    taskQueue: options.taskQueue,
    workflowId: `${MAINTENANCE_SCHEDULE_ID}-run`,
    args: [input],
  };
  const spec = { intervals: [{ every: options.intervalMs }] };
  try {
    await client.schedule.create({ scheduleId: MAINTENANCE_SCHEDULE_ID, spec, action, policies: { overlap: 'SKIP' } });
    log.info({ every: options.intervalMs }, 'maintenance schedule created');
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(MAINTENANCE_SCHEDULE_ID).update((previous) => ({ ...previous, spec, action }));
  }
}

/** Closed workflows are kept as long as messages; a server that refuses the change keeps its own setting. */
export async function ensureNamespaceRetention(client: Client, namespace: string, retentionMs: number, log: Logger): Promise<void> {
  try {
    await client.connection.workflowService.updateNamespace({
      namespace,
      config: { workflowExecutionRetentionTtl: msToTs(retentionMs) },
    });
  } catch (error) {
    log.warn({ err: error, namespace }, 'could not set the namespace retention of closed workflows');
  }
}
