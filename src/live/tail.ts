import type { Collection } from 'mongodb';
import type { Logger } from 'pino';
import { LIVE_EVENTS_HEAD, type LiveEventsHead } from './collection';
import type { LiveEventStore, LiveHub } from './hub';
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

export interface LiveTail {
  stop(): Promise<void>;
}

/**
 * The process's one reader of the stream. Every `pollMs` it reads the head document (one `_id`
 * lookup), and when the head moved (or every `safetyPollMs`, in case a publisher died between its two
 * writes) it reads the events published since `tailRereadMs` before the newest it has, in the
 * collection's order, and hands the hub those it has not handed yet.
 *
 * Why not a tailable cursor: FerretDB v1 gives a record its place when the insert starts, not when it
 * commits, so with concurrent publishers a later place can become visible first, and a cursor past it
 * never returns the earlier one (events were lost that way under load). Re-reading a short window and
 * skipping what was already seen catches those. It also costs FerretDB nothing while the head stays
 * still (an awaiting cursor made it re-run its query every 10 ms, and each run reads the whole
 * collection: FerretDB pushes only `_id` equalities down to SQLite). On MongoDB the read is a range of
 * the `publishedAt` index.
 *
 * It starts with the events of the last `rereadWindowMs` (they fill the ring, for resumes).
 */
export function startLiveTail(args: {
  collection: Collection<LiveEvent>;
  hub: LiveHub;
  log: Logger;
  rereadWindowMs: number;
  tailRereadMs?: number;
  pollMs?: number;
  safetyPollMs?: number;
}): LiveTail {
  const { collection, hub, log, rereadWindowMs, tailRereadMs = 15_000, pollMs = 50, safetyPollMs = 60_000 } = args;
  const head = collection.db.collection<LiveEventsHead>(LIVE_EVENTS_HEAD);
  const readHead = async () => (await head.findOne({ _id: 'head' }))?.published ?? 0;
  let stopped = false;
  let wake: (() => void) | null = null;
  /** The newest publish time handed to the hub; the next read starts `tailRereadMs` before it. */
  let watermark = Date.now() - rereadWindowMs + tailRereadMs;
  /** Ids handed to the hub whose publish time is still inside the re-read span. */
  const handed = new Map<string, number>();

  async function readNew(): Promise<void> {
    const since = watermark - tailRereadMs;
    // A range of the publishedAt index, put back in the collection's order by each record's place.
    const rows = await collection.find({ publishedAt: { $gte: new Date(since) } }, { showRecordId: true, useBigInt64: true }).toArray();
    const place = (row: object) => BigInt((row as { $recordId?: bigint | number }).$recordId ?? 0);
    rows.sort((a, b) => (place(a) < place(b) ? -1 : place(a) > place(b) ? 1 : 0));
    for (const row of rows) {
      if (stopped) break;
      const { $recordId: _place, ...event } = row as LiveEvent & { $recordId?: unknown };
      if (handed.has(event._id)) continue;
      const publishedAt = event.publishedAt.getTime();
      handed.set(event._id, publishedAt);
      watermark = Math.max(watermark, publishedAt);
      hub.append(event as LiveEvent);
    }
    for (const [id, publishedAt] of handed) if (publishedAt < watermark - tailRereadMs) handed.delete(id);
  }

  const loop = (async () => {
    let seenHead: number | null = null;
    let lastRead = 0;
    while (!stopped) {
      try {
        // Read before the events: an event published after this read moves the head again.
        const now = await readHead();
        if (now !== seenHead || performance.now() - lastRead > safetyPollMs) {
          seenHead = now;
          lastRead = performance.now();
          await readNew();
        }
      } catch (error) {
        if (!stopped) log.warn({ err: error }, 'live events: reading the stream failed; retrying');
      }
      if (!stopped)
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, pollMs);
        });
    }
  })();

  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
