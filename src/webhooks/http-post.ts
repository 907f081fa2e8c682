import { Agent, errors as undiciErrors, request } from 'undici';
import type { FailureReason } from '../../workflows/delivery-types';
import { guardedLookup, type UrlPolicy } from './url-guard';
import { withTraceContext } from '../observability/tracing';

export interface PostOptions {
  /** The whole exchange (connect, headers, capped body) must finish within this. */
  timeoutMs: number;
  /** Bytes of the response body kept; the rest is not read. */
  bodyLimit: number;
}

export type PostResult =
  | { ok: true; statusCode: number; body: string; retryAfterMs?: number }
  | { ok: false; reason: FailureReason; error: string; statusCode: number | null; body: string | null; retryAfterMs?: number };

/** One keep-alive pool per origin, shared by every activity of the worker. */
export function createHttpAgent(timeoutMs: number, policy: UrlPolicy): Agent {
  return new Agent({
    // Every resolved address passes the SSRF guard, and the socket connects to the one checked.
    connect: { timeout: Math.min(timeoutMs, 10_000), lookup: guardedLookup(policy) },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 30_000,
    connections: 64,
  });
}

export async function postWebhook(agent: Agent, url: string, headers: Record<string, string>, body: string, options: PostOptions): Promise<PostResult> {
  try {
    const response = await request(url, {
      method: 'POST',
      headers: withTraceContext(headers),
      body,
      dispatcher: agent,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const text = await readCapped(response.body, options.bodyLimit);
    const retryAfterMs = parseRetryAfter(response.headers['retry-after'], Date.now());
    if (response.statusCode >= 200 && response.statusCode < 300) {
      return { ok: true, statusCode: response.statusCode, body: text };
    }
    return {
      ok: false,
      reason: 'http_status',
      error: `HTTP ${response.statusCode}`,
      statusCode: response.statusCode,
      body: text,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  } catch (error) {
    const reason = classifyError(error);
    return { ok: false, reason, error: describeError(reason, error, options.timeoutMs), statusCode: null, body: null };
  }
}

async function readCapped(stream: AsyncIterable<Buffer> & { destroy(): void }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) {
      // Stop reading: a huge or endless body must not hold the worker.
      stream.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim()) * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (let e: any = error; e && codes.length < 5; e = e.cause) {
    if (typeof e.code === 'string') codes.push(e.code);
    if (typeof e.name === 'string') codes.push(e.name);
  }
  return codes;
}

export function classifyError(error: unknown): FailureReason {
  const codes = errorCodes(error);
  const has = (...wanted: string[]) => codes.some((c) => wanted.includes(c));
  if (has('HOOKFLOW_SSRF_BLOCKED')) return 'blocked';
  if (has('TimeoutError', 'AbortError', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT')) {
    return 'timeout';
  }
  if (has('ECONNREFUSED')) return 'connection_refused';
  if (has('ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED')) return 'connection_reset';
  if (has('ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME')) return 'dns';
  if (codes.some((c) => c.startsWith('ERR_TLS') || c.includes('CERT') || c.startsWith('ERR_SSL'))) return 'tls';
  if (codes.some((c) => c.startsWith('HPE_')) || error instanceof undiciErrors.HTTPParserError) return 'protocol';
  return 'network';
}

function describeError(reason: FailureReason, error: unknown, timeoutMs: number): string {
  const detail = error instanceof Error ? error.message : String(error);
  switch (reason) {
    case 'timeout':
      return `timeout: no complete response within ${timeoutMs} ms`;
    case 'connection_refused':
      return `connection refused: ${detail}`;
    case 'connection_reset':
      return `connection reset: ${detail}`;
    case 'dns':
      return `DNS lookup failed: ${detail}`;
    case 'blocked':
      return `blocked by the SSRF guard: ${detail}`;
    default:
      return `${reason}: ${detail}`;
  }
}
