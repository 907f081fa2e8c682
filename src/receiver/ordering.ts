import type { ProcessContext, ReceivedMessage, ReceiverStore } from './store';

/** Thrown for an event older than one already processed for its key: the handler keeps it as failed at once. */
export class StaleEventError extends Error {
  constructor(
    readonly key: string,
    readonly eventAt: Date,
    readonly newestAt: Date,
  ) {
    super(`stale event for ${key}: ${eventAt.toISOString()} is older than ${newestAt.toISOString()}, already processed`);
    this.name = 'StaleEventError';
  }
}

export interface InEventOrderOptions {
  store: ReceiverStore;
  /** The resource an event is about (`order:A-1`); null for events that need no ordering. */
  key: (message: ReceivedMessage) => string | null;
  /** drop: mark it done without processing; hold: keep it as failed, with the reason, for inspection. */
  stale: 'drop' | 'hold';
  onStale?: (message: ReceivedMessage, error: StaleEventError) => void;
}

type Process = (message: ReceivedMessage, context: ProcessContext) => unknown | Promise<unknown>;

/**
 * Wraps `process` for receivers that keep only the latest state of each resource: an event whose
 * `timestamp` is older than the newest already processed for the same key is dropped or held, so a
 * late retry of an old event does not overwrite newer state. An event as old as the newest passes.
 * Within one process, events of one key run one at a time (the others of that key wait), so the check,
 * the update and the new newest time cannot interleave. Across processes, the PostgreSQL store runs
 * them in the claim's transaction with the key's row locked; on the others two receiver processes can
 * still race on one key.
 */
export function inEventOrder(options: InEventOrderOptions, process: Process): Process {
  const running = new Map<string, Promise<unknown>>();
  const applyInOrder = async (key: string, message: ReceivedMessage, context: ProcessContext) => {
    const eventAt = new Date(message.timestamp);
    if (Number.isNaN(eventAt.getTime())) throw new Error(`message ${message.id} has no valid timestamp to order by`);
    const newestAt = await options.store.newestEventAt(key, context);
    if (newestAt && eventAt < newestAt) {
      const stale = new StaleEventError(key, eventAt, newestAt);
      options.onStale?.(message, stale);
      if (options.stale === 'drop') return undefined;
      throw stale;
    }
    const result = await process(message, context);
    await options.store.advanceEventAt(key, eventAt, context);
    return result;
  };
  return (message, context) => {
    const key = options.key(message);
    if (key === null) return process(message, context);
    const previous = running.get(key) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => applyInOrder(key, message, context));
    running.set(key, mine);
    // The last one of a key out removes the key, so the map holds only keys in use.
    const forget = () => {
      if (running.get(key) === mine) running.delete(key);
    };
    mine.then(forget, forget);
    return mine;
  };
}
