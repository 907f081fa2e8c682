import type { WebhookMessage } from './verify';

/**
 * pending: waiting to be processed (now or at `nextAttemptAt`); processing: claimed by a runner;
 * done: processed; failed: `process` threw on every allowed attempt, or the event was held as stale.
 */
export type ReceivedStatus = 'pending' | 'processing' | 'done' | 'failed';

export interface ReceivedMessage extends WebhookMessage {
  status: ReceivedStatus;
  /** Attempts started so far, the running one included. */
  attempts: number;
  receivedAt: Date;
  nextAttemptAt: Date;
  lastError: string | null;
  completedAt: Date | null;
}

/** What `process` gets besides the message: the PostgreSQL store hands it the claim's transaction. */
export interface ProcessContext {
  /** A `pg` client inside the transaction that completes the message (PostgreSQL store only). */
  db?: unknown;
  attempt: number;
}

/** A message claimed by one runner. Exactly one of complete / retry / fail ends it. */
export interface Claim {
  message: ReceivedMessage;
  context: ProcessContext;
  /** Marks it done; false if the claim was lost meanwhile (its lease ran out and another runner took it). */
  complete(): Promise<boolean>;
  /** Gives it back, to be claimed again at `at`. */
  retry(error: string, at: Date): Promise<void>;
  /** Keeps it as failed, for inspection. */
  fail(error: string): Promise<void>;
  /** Extends the lease while `process` runs (a no-op where a transaction holds the row). */
  renew(): Promise<boolean>;
}

export interface ReceiverStore {
  /** Creates the collections, tables and indexes it needs; idempotent. */
  init(): Promise<void>;
  /** Stores a verified message once: false if its id was recorded before (a redelivery). */
  record(message: WebhookMessage): Promise<boolean>;
  /**
   * Claims the oldest message that is due, or one whose runner's lease ran out; null if none. With an
   * id, only that message, if it is due: the handler claims what it has just recorded by id, which
   * every store answers from its primary key, and scans only when it has nothing of its own.
   */
  claim(owner: string, leaseMs: number, id?: string): Promise<Claim | null>;
  get(id: string): Promise<ReceivedMessage | null>;
  /** The ids among `ids` that were ever recorded. */
  seen(ids: readonly string[]): Promise<Set<string>>;
  list(status: ReceivedStatus, limit?: number): Promise<ReceivedMessage[]>;
  /** Newest event time processed for a resource key (see ordering.ts); context: the claim's. */
  newestEventAt(key: string, context?: ProcessContext): Promise<Date | null>;
  /** Raises the newest event time of `key` to `at` unless it is already later. */
  advanceEventAt(key: string, at: Date, context?: ProcessContext): Promise<void>;
  /** Small named values, such as reconcile's cursor. */
  getCheckpoint(name: string): Promise<string | null>;
  setCheckpoint(name: string, value: string): Promise<void>;
}
