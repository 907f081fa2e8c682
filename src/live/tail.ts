import type { Collection, FindCursor } from 'mongodb';
import type { Logger } from 'pino';
import { LIVE_EVENTS_HEAD, type LiveEventsHead } from './collection';
import { cursorExpired, type LiveEventStore, type LiveHub, type LivePosition } from './hub';
import type { LiveEvent } from './types';

/** The capped collection as the hub's store: a held event is one `_id` lookup; a catch-up one scan. */
export function mongoLiveStore(collection: Collection<LiveEvent>): LiveEventStore {
  return {
    async holds(id) {
      return (await collection.findOne({ _id: id }, { projection: { _id: 1 } })) !== null;
    },
    readFrom(from, rereadWindowMs, tenantId) {
      // Natural order is the order of insertion, the one every tail reads.
      return collection
        .find({ publishedAt: { $gte: new Date(from.publishedAt - rereadWindowMs) }, $or: [{ _id: from.id }, { tenantId }] })
        .sort({ $natural: 1 });
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface LiveTail {
  stop(): Promise<void>;
}

/**
 * The process's one reader of the stream: a tailable cursor on the capped collection, whose events go
 * to the hub in the collection's order.
 *
 * It polls rather than letting the server wait: FerretDB v1 answers an awaiting getMore by re-running
 * the whole query every 10 ms, and every run reads every document of the collection (it pushes down
 * only `_id` equalities). So, every `pollMs`, the tail reads the head document (one `_id` lookup) and
 * asks the cursor for more (a getMore without awaitData) only when the head moved, or every
 * `safetyPollMs` in case a publisher stopped between its insert and the head's update. On MongoDB
 * both cost next to nothing.
 * FerretDB also keeps a tailable cursor open only if its `find` matched something and returned no
 * document itself (batchSize 0): so the tail waits for a first event, and always opens its cursor on a
 * range that holds its last event.
 *
 * It starts with the events of the last `rereadWindowMs` before the newest one (they fill the ring,
 * for resumes). When its cursor dies (a lost connection), it opens a new one and skips to where it
 * was. If that place has been overwritten meanwhile, events may have been missed: every subscription
 * is closed with CURSOR_EXPIRED, so that clients resume from their own cursors or catch up.
 */
export function startLiveTail(args: {
  collection: Collection<LiveEvent>;
  hub: LiveHub;
  log: Logger;
  rereadWindowMs: number;
  retryMs?: number;
  pollMs?: number;
  safetyPollMs?: number;
}): LiveTail {
  const { collection, hub, log, rereadWindowMs, retryMs = 200, pollMs = 50, safetyPollMs = 60_000 } = args;
  const head = collection.db.collection<LiveEventsHead>(LIVE_EVENTS_HEAD);
  const readHead = async () => (await head.findOne({ _id: 'head' }))?.published ?? 0;
  let stopped = false;
  let cursor: FindCursor<LiveEvent> | null = null;
  /** The last event appended; null until the first one. */
  let position: LivePosition | null = null;

  /** Where to open the cursor: after `position`, or (first start) the window before the newest event. */
  async function startingPoint(): Promise<{ since: number; skipUntil: string | null } | null> {
    if (position) {
      if (await collection.findOne({ _id: position.id }, { projection: { _id: 1 } })) return { since: position.publishedAt, skipUntil: position.id };
      log.warn({ position }, 'live events: the tail lost its place in the stream; closing the subscriptions');
      hub.closeAll(cursorExpired('the server lost its place in the live stream; subscribe again with after set to your last cursor'));
      position = null;
    }
    const newest = await collection.find({}, { projection: { publishedAt: 1 } }).sort({ $natural: -1 }).limit(1).next();
    return newest ? { since: newest.publishedAt.getTime(), skipUntil: null } : null;
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        const start = await startingPoint();
        if (start) {
          let skipUntil = start.skipUntil;
          cursor = collection.find({ publishedAt: { $gte: new Date(start.since - rereadWindowMs) } }, { tailable: true, batchSize: 0 });
          // Read before each getMore: an event published after this read moves the head again.
          let seenHead = await readHead();
          let lastGetMore = performance.now();
          while (!stopped && !cursor.closed) {
            const event = await cursor.tryNext();
            if (!event) {
              lastGetMore = performance.now();
              for (;;) {
                await sleep(pollMs);
                const now = await readHead();
                if (stopped || now !== seenHead || performance.now() - lastGetMore > safetyPollMs) {
                  seenHead = now;
                  break;
                }
              }
              continue;
            }
            if (skipUntil !== null) {
              if (event._id === skipUntil) skipUntil = null;
              continue;
            }
            position = { id: event._id, publishedAt: event.publishedAt.getTime() };
            hub.append(event);
          }
        }
      } catch (error) {
        if (!stopped) log.warn({ err: error }, 'live events: tail cursor failed; reopening');
      }
      if (!stopped) await sleep(retryMs);
    }
  })();

  return {
    async stop() {
      stopped = true;
      await cursor?.close().catch(() => undefined);
      await loop;
    },
  };
}
