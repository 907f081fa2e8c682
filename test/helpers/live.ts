import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
import WebSocket from 'ws';

export type Transport = 'sse' | 'ws';
export const TRANSPORTS: Transport[] = ['sse', 'ws'];

export interface CodedError {
  message: string;
  code?: string;
}

/** One open subscription, as a client sees it: every result, split into data and coded errors. */
export interface LiveStream<T> {
  items: T[];
  errors: CodedError[];
  completed: boolean;
  /** Resolves once `count` items arrived; rejects after `timeoutMs` with what arrived. */
  waitForItems(count: number, timeoutMs?: number): Promise<T[]>;
  waitForError(timeoutMs?: number): Promise<CodedError>;
  close(): void;
}

const codedErrors = (errors: readonly unknown[]): CodedError[] =>
  errors.map((e) => {
    const error = e as { message?: string; extensions?: { code?: string } };
    return { message: error.message ?? String(e), code: error.extensions?.code };
  });

/**
 * Subscribes over GraphQL over SSE (Yoga's distinct connections mode) or graphql-ws, with the real
 * client libraries, and collects the `field` of every result.
 */
export function subscribe<T = any>(
  transport: Transport,
  apiUrl: string,
  apiKey: string,
  query: string,
  variables: Record<string, unknown> = {},
): LiveStream<T> {
  const listeners = new Set<() => void>();
  const stream: LiveStream<T> & { listeners: Set<() => void> } = {
    items: [],
    errors: [],
    completed: false,
    listeners,
    waitForItems(count, timeoutMs = 20_000) {
      return waitUntil(
        stream,
        () => (stream.items.length >= count ? stream.items : undefined),
        timeoutMs,
        () => `${count} items`,
      );
    },
    waitForError(timeoutMs = 20_000) {
      return waitUntil(
        stream,
        () => stream.errors[0],
        timeoutMs,
        () => 'an error',
      );
    },
    close: () => undefined,
  };
  const sink = {
    next(result: { data?: Record<string, unknown> | null; errors?: readonly unknown[] }) {
      if (result.errors?.length) stream.errors.push(...codedErrors(result.errors));
      const value = result.data ? Object.values(result.data)[0] : undefined;
      if (value) stream.items.push(value as T);
      for (const listener of [...listeners]) listener();
    },
    error(error: unknown) {
      stream.errors.push(...codedErrors(Array.isArray(error) ? error : [error]));
      for (const listener of [...listeners]) listener();
    },
    complete() {
      stream.completed = true;
      for (const listener of [...listeners]) listener();
    },
  };
  if (transport === 'sse') {
    const client = createSseClient({ url: apiUrl, headers: { authorization: `Bearer ${apiKey}` }, retryAttempts: 0 });
    const unsubscribe = client.subscribe({ query, variables }, sink);
    stream.close = () => {
      unsubscribe();
      client.dispose();
    };
  } else {
    const client = createWsClient({
      url: apiUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${apiKey}` },
      retryAttempts: 0,
      lazy: true,
      onNonLazyError: () => undefined,
    });
    const unsubscribe = client.subscribe({ query, variables }, sink);
    stream.close = () => {
      unsubscribe();
      void client.dispose();
    };
  }
  return stream;
}

function waitUntil<T, R>(
  stream: LiveStream<T> & { listeners: Set<() => void> },
  check: () => R | undefined,
  timeoutMs: number,
  what: () => string,
): Promise<R> {
  const now = check();
  if (now !== undefined) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const listener = () => {
      const value = check();
      if (value === undefined) return;
      clearTimeout(timer);
      stream.listeners.delete(listener);
      resolve(value);
    };
    const timer = setTimeout(() => {
      stream.listeners.delete(listener);
      reject(
        new Error(
          `waited ${timeoutMs} ms for ${what()}; got ${stream.items.length} items: ${JSON.stringify(stream.items).slice(0, 2000)}; errors ${JSON.stringify(stream.errors)}`,
        ),
      );
    }, timeoutMs);
    stream.listeners.add(listener);
  });
}
