import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import { StaleEventError } from './ordering';
import type { Claim, ProcessContext, ReceivedMessage, ReceiverStore } from './store';
import { verifyWebhook, WebhookVerificationError, type WebhookMessage } from './verify';

export type ProcessFn = (message: ReceivedMessage, context: ProcessContext) => unknown | Promise<unknown>;

export interface WebhookHandlerOptions {
  secrets: string | readonly string[];
  store: ReceiverStore;
  process: ProcessFn;
  /** Messages processed at once by this process. */
  concurrency?: number;
  toleranceSeconds?: number;
  /** Bodies over this are answered 413 without being read further. */
  maxBodyBytes?: number;
  /** Attempts of `process` before a message is kept as failed. */
  maxAttempts?: number;
  /** Delay before retry number `attempt` (1 for the first retry). */
  retryDelayMs?: (attempt: number) => number;
  /** How long a claim is held before another runner may take the message over; renewed while `process` runs. */
  leaseMs?: number;
  /** How often idle runners look for due messages: retries, and messages a dead process left behind. */
  pollIntervalMs?: number;
  /** Name of this process in claims. */
  owner?: string;
  /** Errors that have no caller to go to: the store failing under a runner, a lease lost. */
  onError?: (error: unknown, message?: ReceivedMessage) => void;
}

export interface WebhookHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** The same, for a framework that has already read the raw body. */
  handle(req: IncomingMessage, res: ServerResponse, rawBody?: Buffer | string): Promise<void>;
  /** Records a message that came another way (reconcile's onMissing) and processes it like a delivered one. */
  accept(message: WebhookMessage): Promise<boolean>;
  /** Resolves once the store is initialised; requests before then wait for it. */
  ready: Promise<void>;
  /** Stops claiming and waits for the messages being processed. */
  close(): Promise<void>;
}

export const defaultRetryDelayMs = (attempt: number) => {
  const delay = Math.min(1000 * 2 ** (attempt - 1), 60_000);
  return delay - Math.random() * delay * 0.1;
};

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw new BodyTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>, close = false) {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', ...(close ? { connection: 'close' } : {}) });
  res.end(JSON.stringify(body));
}

/**
 * A Node `(req, res)` handler that verifies, records and acknowledges at once (202), then processes
 * each message once in the background: claimed from the store, retried with backoff when `process`
 * throws, kept as failed after `maxAttempts`. Runners start at once, so messages a previous process
 * recorded but did not finish are resumed.
 */
export function createWebhookHandler(options: WebhookHandlerOptions): WebhookHandler {
  const {
    secrets,
    store,
    concurrency = 4,
    toleranceSeconds = 300,
    maxBodyBytes = 1024 * 1024,
    maxAttempts = 5,
    retryDelayMs = defaultRetryDelayMs,
    leaseMs = 30_000,
    pollIntervalMs = 1000,
    owner = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
    onError = (error: unknown) => console.error('hookflow receiver:', error),
  } = options;

  let closed = false;
  // Idle runners wait for a poll interval, or less when a message is recorded.
  const sleepers = new Set<() => void>();
  const nudge = () => {
    for (const wake of sleepers) wake();
    sleepers.clear();
  };
  const idle = () =>
    new Promise<void>((resolve) => {
      const wake = () => (clearTimeout(timer), sleepers.delete(wake), resolve());
      const timer = setTimeout(wake, pollIntervalMs);
      sleepers.add(wake);
    });

  async function run(claim: Claim) {
    const { message, context } = claim;
    // A renewal still in flight is awaited before the claim ends: on MongoDB both would take the same
    // version, and a renewal that won would leave the message held and processed again after its lease.
    // One renewal at a time, for the same reason.
    let renewing: Promise<unknown> | null = null;
    const renewal = setInterval(
      () => {
        renewing ??= claim
          .renew()
          .then(
            (held) => held || onError(new Error(`lease on ${message.id} lost while processing`), message),
            (error) => onError(error, message),
          )
          .finally(() => (renewing = null));
      },
      Math.max(10, leaseMs / 3),
    );
    let failure: unknown = null;
    try {
      await options.process(message, context);
    } catch (error) {
      failure = error ?? new Error('process threw a nullish value');
    } finally {
      clearInterval(renewal);
      await renewing;
    }
    if (failure === null) {
      if (!(await claim.complete())) onError(new Error(`lease on ${message.id} lost before completion`), message);
      return;
    }
    const text = failure instanceof Error ? failure.message : String(failure);
    if (failure instanceof StaleEventError || context.attempt >= maxAttempts) await claim.fail(text);
    else await claim.retry(text, new Date(Date.now() + retryDelayMs(context.attempt)));
  }

  /** Ids this process recorded, in order: claimed by id first, so a scan is needed only for the rest. */
  const recordedHere: string[] = [];

  async function runner() {
    while (!closed) {
      let claim: Claim | null = null;
      const id = recordedHere.shift();
      try {
        claim = await store.claim(owner, leaseMs, id);
        if (claim) await run(claim);
      } catch (error) {
        onError(error, claim?.message);
      }
      if (!claim && id === undefined && !closed) await idle();
    }
  }

  const ready = store.init();
  let runners: Promise<void[]> = Promise.resolve([]);
  ready.then(
    () => {
      if (!closed) runners = Promise.all(Array.from({ length: concurrency }, runner));
    },
    (error) => onError(error),
  );

  async function accept(message: WebhookMessage) {
    await ready;
    const recorded = await store.record(message);
    if (recorded) {
      recordedHere.push(message.id);
      nudge();
    }
    return recorded;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, rawBody?: Buffer | string) {
    if (req.method !== 'POST') return reply(res, 405, { error: 'method_not_allowed' });
    let body: Buffer | string;
    try {
      body = rawBody ?? (await readBody(req, maxBodyBytes));
    } catch (error) {
      if (error instanceof BodyTooLarge) return reply(res, 413, { error: 'body_too_large', limit: maxBodyBytes }, true);
      throw error;
    }
    let message: WebhookMessage;
    try {
      message = verifyWebhook({ headers: req.headers, body, secrets, toleranceSeconds });
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      const status = error.reason === 'missing_header' || error.reason === 'invalid_payload' ? 400 : 401;
      return reply(res, status, { error: error.reason, message: error.message });
    }
    try {
      const recorded = await accept(message);
      reply(res, 202, { id: message.id, status: recorded ? 'accepted' : 'duplicate' });
    } catch (error) {
      // Not recorded: the sender must try again, so the answer is not a 2xx.
      onError(error);
      reply(res, 503, { error: 'store_unavailable' });
    }
  }

  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error) => {
      onError(error);
      reply(res, 500, { error: 'internal' });
    });
  }) as WebhookHandler;
  handler.handle = handle;
  handler.accept = accept;
  handler.ready = ready;
  handler.close = async () => {
    closed = true;
    nudge();
    await ready.catch(() => undefined);
    await runners;
  };
  return handler;
}
