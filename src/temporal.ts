import { Client, Connection, ScheduleAlreadyRunning } from '@temporalio/client';
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

export async function connectClient(address: string, namespace: string, timeoutMs = 60_000): Promise<Client> {
  const connection = await retry(`cannot reach Temporal at ${address}`, timeoutMs, async () => {
    const c = await Connection.connect({ address });
    await c.workflowService.describeNamespace({ namespace });
    return c;
  });
  return new Client({ connection, namespace });
}

export async function connectWorker(address: string, timeoutMs = 60_000): Promise<NativeConnection> {
  return retry(`cannot reach Temporal at ${address}`, timeoutMs, () => NativeConnection.connect({ address }));
}

/** Registers the search attributes the workflows set, where a namespace lacks them (production). */
export async function ensureSearchAttributes(client: Client, namespace: string, log: Logger): Promise<void> {
  const { operatorService } = client.connection;
  const existing = await operatorService.listSearchAttributes({ namespace });
  const missing: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
  for (const key of ALL_SEARCH_ATTRIBUTES) {
    if (!existing.customAttributes?.[key.name]) missing[key.name] = indexedTypes[key.type]!;
  }
  if (Object.keys(missing).length === 0) return;
  await operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
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
