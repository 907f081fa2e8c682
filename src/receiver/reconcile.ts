import type { ReceiverStore } from './store';
import type { WebhookMessage } from './verify';

export interface ReconcileOptions {
  /** Hookflow's GraphQL URL, e.g. http://127.0.0.1:4000/graphql. */
  apiUrl: string;
  apiKey: string;
  /** Messages created at or after `since` and before `until` (Hookflow's createdAfter / createdBefore). */
  since: Date;
  until: Date;
  store: ReceiverStore;
  /** Called, one at a time, for each message of the window the store never recorded. */
  onMissing: (message: WebhookMessage) => unknown | Promise<unknown>;
  /** Only messages routed to this endpoint (recommended: a tenant may have other receivers). */
  endpointId?: string;
  eventTypes?: string[];
  pageSize?: number;
  /** Where the cursor is kept in the store; defaults to one name per window and endpoint. */
  checkpoint?: string;
  /** Scan the window from its start even if an earlier run got further. */
  restart?: boolean;
  onPage?: (progress: ReconcileResult) => void;
}

export interface ReconcileResult {
  /** Messages of the window looked at, over every run of this checkpoint (pages whose cursor was saved). */
  checked: number;
  /** onMissing calls, counted as `checked` is: a page a failed run did not finish is counted by the run that does. */
  missing: number;
  pages: number;
  /** The last page's end cursor: where a later run resumes. */
  cursor: string | null;
  done: boolean;
}

const QUERY = `query HookflowReconcile($filter: MessageFilter, $first: Int, $after: String) {
  messages(filter: $filter, first: $first, after: $after) {
    nodes { id eventType payload occurredAt }
    pageInfo { endCursor hasNextPage }
  }
}`;

interface Page {
  nodes: { id: string; eventType: string; payload: unknown; occurredAt: string }[];
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
}

export class ReconcileError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ReconcileError';
  }
}

async function fetchPage(options: ReconcileOptions, after: string | null): Promise<Page> {
  const response = await fetch(options.apiUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` },
    body: JSON.stringify({
      query: QUERY,
      variables: {
        filter: {
          createdAfter: options.since.toISOString(),
          createdBefore: options.until.toISOString(),
          ...(options.endpointId ? { endpointId: options.endpointId } : {}),
          ...(options.eventTypes ? { eventTypes: options.eventTypes } : {}),
        },
        first: options.pageSize ?? 100,
        after,
      },
    }),
  });
  const result = (await response.json().catch(() => null)) as {
    data?: { messages: Page };
    errors?: { message: string; extensions?: { code?: string } }[];
  } | null;
  if (result?.errors?.length) throw new ReconcileError(`Hookflow API: ${result.errors[0].message}`, result.errors[0].extensions?.code);
  if (!response.ok || !result?.data) throw new ReconcileError(`Hookflow API answered ${response.status}`);
  return result.data.messages;
}

/**
 * Pages Hookflow's `messages` over [since, until) and calls `onMissing` for each message the store
 * has never recorded: what a receiver missed while it was down, or what was never delivered. The
 * cursor is saved in the store after each page, once `onMissing` has returned for all of its
 * messages, so a run that stops resumes from the last whole page. (Messages created after a page was
 * read are newer and do not shift the pages of the window.)
 */
export async function reconcile(options: ReconcileOptions): Promise<ReconcileResult> {
  const { store } = options;
  const checkpoint = options.checkpoint ?? `reconcile:${options.since.toISOString()}:${options.until.toISOString()}:${options.endpointId ?? '*'}`;
  const saved = options.restart ? null : await store.getCheckpoint(checkpoint);
  const progress: ReconcileResult = saved ? { ...JSON.parse(saved), pages: 0 } : { checked: 0, missing: 0, pages: 0, cursor: null, done: false };
  while (!progress.done) {
    const page = await fetchPage(options, progress.cursor);
    const seen = await store.seen(page.nodes.map((node) => node.id));
    for (const node of page.nodes) {
      if (seen.has(node.id)) continue;
      await options.onMissing({ id: node.id, type: node.eventType, timestamp: node.occurredAt, data: node.payload });
      progress.missing += 1;
    }
    progress.checked += page.nodes.length;
    progress.pages += 1;
    progress.cursor = page.pageInfo.endCursor ?? progress.cursor;
    progress.done = !page.pageInfo.hasNextPage;
    const { pages: _pages, ...kept } = progress;
    await store.setCheckpoint(checkpoint, JSON.stringify(kept));
    options.onPage?.({ ...progress });
  }
  return progress;
}
