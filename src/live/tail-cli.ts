import { createClient } from 'graphql-ws';
import type { FormattedExecutionResult } from 'graphql';
import WebSocket from 'ws';

/** `npx hookflow tail`: deliveries as they happen, one line each, over graphql-ws. */

const QUERY = `subscription ($endpointId: ID, $eventTypes: [String!], $after: String) {
  deliveryEvents(endpointId: $endpointId, eventTypes: $eventTypes, after: $after) {
    cursor at status message { id eventType } endpoint { id } attempt { statusCode durationMs error }
  }
}`;

interface DeliveryEventLine {
  cursor: string;
  at: string;
  status: string;
  message: { id: string; eventType: string };
  endpoint: { id: string };
  attempt: { statusCode: number | null; durationMs: number; error: string | null } | null;
}

/** time, message, endpoint, status, HTTP code, duration (and the error of a failed attempt). */
export function formatDeliveryEvent(event: DeliveryEventLine): string {
  const { attempt } = event;
  const code = attempt ? String(attempt.statusCode ?? '---') : '-';
  const duration = attempt ? `${attempt.durationMs} ms` : '-';
  const error = attempt?.error ? `  ${attempt.error}` : '';
  return `${event.at}  ${event.message.id}  ${event.endpoint.id}  ${event.status.padEnd(9)}  ${code.padStart(3)}  ${duration.padStart(8)}  ${event.message.eventType}${error}`;
}

/** Codes after which reconnecting cannot help. */
const FATAL = new Set(['UNAUTHENTICATED', 'NOT_FOUND', 'INVALID_CURSOR', 'CURSOR_EXPIRED', 'TOO_MANY_SUBSCRIPTIONS', 'INVALID_INPUT']);

/**
 * Prints deliveries until `signal` aborts. A dropped connection (or a SLOW_CONSUMER cut-off) is
 * retried, with growing pauses up to 5 s, after the last cursor printed, so nothing is missed or
 * printed twice. Resolves on abort; rejects on an error that a retry cannot fix.
 */
export async function tailDeliveries(args: {
  url: string;
  apiKey: string;
  endpointId?: string;
  eventTypes?: string[];
  write: (line: string) => void;
  warn: (line: string) => void;
  signal: AbortSignal;
}): Promise<void> {
  const wsUrl = args.url.replace(/^http/, 'ws');
  let after: string | null = null;
  let pause = 250;
  while (!args.signal.aborted) {
    const client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${args.apiKey}` },
      retryAttempts: 0,
      lazy: true,
    });
    const stop = () => void client.dispose();
    args.signal.addEventListener('abort', stop, { once: true });
    try {
      const results: AsyncIterableIterator<FormattedExecutionResult<{ deliveryEvents: DeliveryEventLine }, unknown>> = client.iterate<{
        deliveryEvents: DeliveryEventLine;
      }>({
        query: QUERY,
        variables: { endpointId: args.endpointId ?? null, eventTypes: args.eventTypes ?? null, after },
      });
      for await (const result of results) {
        const coded = result.errors?.[0] as { message: string; extensions?: { code?: string } } | undefined;
        if (coded) {
          if (FATAL.has(coded.extensions?.code ?? '')) throw new Error(`${coded.extensions?.code}: ${coded.message}`);
          args.warn(`${coded.extensions?.code ?? 'error'}: ${coded.message}; reconnecting`);
          break;
        }
        const event: DeliveryEventLine | undefined = result.data?.deliveryEvents;
        if (!event) continue;
        args.write(formatDeliveryEvent(event));
        after = event.cursor;
        pause = 250;
      }
    } catch (error) {
      const coded = Array.isArray(error) ? (error[0] as { message: string; extensions?: { code?: string } }) : null;
      if (coded && FATAL.has(coded.extensions?.code ?? '')) throw new Error(`${coded.extensions?.code}: ${coded.message}`);
      if (error instanceof Error && /^[A-Z_]+: /.test(error.message)) throw error;
      if (!args.signal.aborted) args.warn(`connection lost (${describe(error)}); reconnecting in ${pause} ms`);
    } finally {
      args.signal.removeEventListener('abort', stop);
      await client.dispose();
    }
    if (args.signal.aborted) break;
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(5_000, pause * 2);
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && 'code' in error) return `close code ${(error as { code: number }).code}`;
  return String(error);
}
