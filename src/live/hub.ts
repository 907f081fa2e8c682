import { UserError } from '../errors';
import type { LiveEvent } from './types';

/**
 * The in-memory fan-out of one API process. Its one reader (tail.ts) appends every event once, in the
 * order of the capped collection (its natural order, the same for every reader; on FerretDB a record
 * that commits late comes after what was already read); each subscription takes the events it
 * accepts from there. A cursor names one event; resuming after it replays what follows it: from the
 * ring of recent events when it is still there (in the order appended), else from the store (in
 * natural order).
 */

/** What a cursor holds: the event's id, and when it was published (which bounds the re-read). */
export interface LivePosition {
  id: string;
  publishedAt: number;
}

export const encodeLiveCursor = (event: Pick<LiveEvent, '_id' | 'publishedAt'>): string =>
  Buffer.from(JSON.stringify([event._id, event.publishedAt.getTime()])).toString('base64url');

export function decodeLiveCursor(cursor: string): LivePosition {
  try {
    const [id, publishedAt] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof id === 'string' && typeof publishedAt === 'number') return { id, publishedAt };
  } catch {
    // fall through
  }
  throw new UserError('INVALID_CURSOR', "after: not a cursor of a live event (pass an event's cursor as it is)", 'after');
}

export const cursorExpired = (why: string) =>
  new UserError('CURSOR_EXPIRED', `after: ${why}; catch up with the messages query, then subscribe without after`, 'after');

/** The durable side of the stream: the capped collection, or a model of it in tests. */
export interface LiveEventStore {
  /** Whether the event is still held. */
  holds(id: string): Promise<boolean>;
  /**
   * In stream order, every held event that may follow `from`: those published at or after
   * `from.publishedAt - rereadWindowMs`, a superset of what follows it (a write lands at most that
   * long after its publish time). Lazy, so a long catch-up is read as the subscriber takes it.
   */
  readFrom(from: LivePosition, rereadWindowMs: number, tenantId: string): AsyncIterable<LiveEvent>;
}

export interface LiveHubOptions {
  store: LiveEventStore;
  /** Recent events kept in memory, so that most resumes read nothing from the store. */
  ringSize: number;
  /** Events one subscription may have waiting; past it, it closes with SLOW_CONSUMER. */
  bufferSize: number;
  /** How old a cursor may be (HOOKFLOW_SUBSCRIPTION_RETENTION). */
  retentionMs: number;
  /** How long after its publish time an event may land in the store, clock skew included. */
  rereadWindowMs: number;
  now?: () => number;
}

/** An item a subscription yields: an event, or the coded error that closes it (the last item). */
export type LiveItem<E extends LiveEvent = LiveEvent> = { event: E } | { error: UserError };

export class LiveHub {
  private ring: LiveEvent[] = [];
  /** Absolute index of ring[0]: an event's index never changes while it is in the ring. */
  private ringStart = 0;
  private readonly ringIndex = new Map<string, number>();
  private readonly subscriptions = new Set<LiveSubscription>();
  private readonly now: () => number;

  constructor(private readonly options: LiveHubOptions) {
    this.now = options.now ?? Date.now;
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  /** The tail calls this for every event, in stream order. */
  append(event: LiveEvent): void {
    this.ringIndex.set(event._id, this.ringStart + this.ring.length);
    this.ring.push(event);
    if (this.ring.length >= 2 * this.options.ringSize) {
      const dropped = this.ring.splice(0, this.ring.length - this.options.ringSize);
      for (const old of dropped) this.ringIndex.delete(old._id);
      this.ringStart += dropped.length;
    }
    for (const subscription of this.subscriptions) subscription.offer(event);
  }

  /** Closes every subscription, e.g. when the tail lost its place in the stream. */
  closeAll(error: UserError): void {
    for (const subscription of [...this.subscriptions]) subscription.close(error);
  }

  /**
   * A subscription to the events `accept` takes, from now on or, with `after`, from just after that
   * event. Throws CURSOR_EXPIRED if `after` is older than the retention or no longer held.
   */
  async subscribe(args: {
    tenantId: string;
    accept: (event: LiveEvent) => boolean;
    after: LivePosition | null;
    onDispose?: () => void;
  }): Promise<LiveSubscription> {
    const { after } = args;
    const subscription = new LiveSubscription(args.accept, this.options.bufferSize, () => {
      this.subscriptions.delete(subscription);
      args.onDispose?.();
    });
    // Registered before the store is read, so that nothing appended meanwhile is missed.
    this.subscriptions.add(subscription);
    if (!after) return subscription;
    try {
      if (after.publishedAt < this.now() - this.options.retentionMs) throw cursorExpired('this cursor is older than the subscription retention');
      const inRing = this.ringIndex.get(after.id);
      if (inRing !== undefined) {
        subscription.catchUpFrom(toAsync(this.ring.slice(inRing - this.ringStart + 1)), null, null);
      } else {
        if (!(await this.options.store.holds(after.id))) throw cursorExpired('the event of this cursor is no longer held');
        const window = this.options.rereadWindowMs;
        subscription.catchUpFrom(this.options.store.readFrom(after, window, args.tenantId)[Symbol.asyncIterator](), after.id, this.now() - window);
      }
      return subscription;
    } catch (error) {
      subscription.dispose();
      throw error;
    }
  }
}

async function* toAsync<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

export class LiveSubscription implements AsyncIterableIterator<LiveItem> {
  private queue: LiveEvent[] = [];
  private catchUp: AsyncIterator<LiveEvent> | null = null;
  /** For a catch-up from the store: the cursor's event, until it is met; events before it are skipped. */
  private skipUntil: string | null = null;
  /**
   * Ids a store catch-up went past, which the tail may offer again: the queue starts with them (both
   * are in stream order), so the set is dropped at the first queued event not in it.
   */
  private seen: Set<string> | null = null;
  private seenSince = 0;
  private error: UserError | null = null;
  private done = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly accept: (event: LiveEvent) => boolean,
    private readonly bufferSize: number,
    private readonly onDispose: () => void,
  ) {}

  catchUpFrom(events: AsyncIterator<LiveEvent>, skipUntil: string | null, seenSince: number | null): void {
    this.catchUp = events;
    this.skipUntil = skipUntil;
    if (seenSince !== null) {
      this.seen = new Set();
      this.seenSince = seenSince;
    }
  }

  offer(event: LiveEvent): void {
    if (this.done || this.error || !this.accept(event)) return;
    if (this.queue.length >= this.bufferSize) {
      this.close(
        new UserError(
          'SLOW_CONSUMER',
          `more than ${this.bufferSize} events waited for this subscriber; subscribe again with after set to the last cursor received`,
        ),
      );
      return;
    }
    this.queue.push(event);
    this.wakeUp();
  }

  /**
   * Ends the subscription with a coded error, which is its last item. It leaves the hub (and its
   * key's count) at once: a consumer that stopped reading may not take that last item for a while.
   */
  close(error: UserError): void {
    if (this.done || this.error) return;
    this.error = error;
    this.queue = [];
    this.detach();
    this.wakeUp();
  }

  async next(): Promise<IteratorResult<LiveItem>> {
    for (;;) {
      if (this.done) return { value: undefined, done: true };
      if (this.error) {
        const error = this.error;
        this.dispose();
        return { value: { error }, done: false };
      }
      if (this.catchUp) {
        const event = await this.nextCaughtUp();
        if (event) return { value: { event }, done: false };
        continue;
      }
      const event = this.queue.shift();
      if (event) {
        if (this.seen?.has(event._id)) continue;
        this.seen = null;
        return { value: { event }, done: false };
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** The next accepted event of the catch-up, or null when it ended (or failed, which sets the error). */
  private async nextCaughtUp(): Promise<LiveEvent | null> {
    const catchUp = this.catchUp!;
    for (;;) {
      let result: IteratorResult<LiveEvent>;
      try {
        result = await catchUp.next();
      } catch (error) {
        this.endCatchUp();
        this.close(error instanceof UserError ? error : cursorExpired(`reading the held events failed (${(error as Error).message})`));
        return null;
      }
      if (this.done || this.error) return null;
      if (result.done) {
        const missed = this.skipUntil !== null;
        this.endCatchUp();
        if (missed) this.close(cursorExpired('the event of this cursor is no longer held'));
        return null;
      }
      const event = result.value;
      if (this.seen && event.publishedAt.getTime() >= this.seenSince) this.seen.add(event._id);
      if (this.skipUntil !== null) {
        if (event._id === this.skipUntil) this.skipUntil = null;
        continue;
      }
      if (this.accept(event)) return event;
    }
  }

  private endCatchUp(): void {
    void this.catchUp?.return?.();
    this.catchUp = null;
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private detached = false;

  private detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.onDispose();
  }

  dispose(): void {
    if (this.done) return;
    this.done = true;
    this.queue = [];
    this.seen = null;
    this.endCatchUp();
    this.detach();
    this.wakeUp();
  }

  async return(): Promise<IteratorResult<LiveItem>> {
    this.dispose();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
