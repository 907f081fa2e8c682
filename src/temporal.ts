import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import type { Logger } from 'pino';
import { ALL_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

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
