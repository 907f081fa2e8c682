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

/** How many of the newest records a tail's read asks for first; four times more while that is not enough. */
const NEWEST_FIRST_READ = 64;

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
 * collection: FerretDB pushes only `_id` equalities down to SQLite). The read takes the newest records
 * first (`$natural: -1` with a limit), so that it costs what was published in the span it re-reads,
 * not what the collection holds. And a moved head re-reads only `quickRereadMs` (2 s); the whole
 * `tailRereadMs` is re-read at most every `fullRereadEveryMs` (1 s), so that at 20 events a second the
 * tail decodes about 40 events a read, not 300: an event whose insert commits more than 2 s after it
 * was stamped is still handed over, up to a second later.
 *
 * It starts with the events of the last `rereadWindowMs` (they fill the ring, for resumes).
 */
export function startLiveTail(args: {
  collection: Collection<LiveEvent>;
  hub: LiveHub;
  log: Logger;
  rereadWindowMs: number;
  tailRereadMs?: number;
  quickRereadMs?: number;
  fullRereadEveryMs?: number;
  pollMs?: number;
  safetyPollMs?: number;
}): LiveTail {
  const {
    collection,
    hub,
    log,
    rereadWindowMs,
    tailRereadMs = 15_000,
    quickRereadMs = 2_000,
    fullRereadEveryMs = 1_000,
    pollMs = 50,
    safetyPollMs = 60_000,
  } = args;
  const head = collection.db.collection<LiveEventsHead>(LIVE_EVENTS_HEAD);
  const readHead = async () => (await head.findOne({ _id: 'head' }))?.published ?? 0;
  let stopped = false;
  let wake: (() => void) | null = null;
  /** The newest publish time handed to the hub; the next read starts `tailRereadMs` before it. */
  let watermark = Date.now() - rereadWindowMs + tailRereadMs;
  /** Ids handed to the hub whose publish time is still inside the re-read span. */
  const handed = new Map<string, number>();

  let lastFullRead = 0;
  /** A quick read was made since the last full one: a full one follows within fullRereadEveryMs. */
  let fullOwed = false;
  const fullDue = () => performance.now() - lastFullRead >= fullRereadEveryMs;

  async function readNew(): Promise<void> {
    const full = fullDue();
    if (full) lastFullRead = performance.now();
    fullOwed = !full;
    const since = watermark - (full ? tailRereadMs : Math.min(quickRereadMs, tailRereadMs));
    // The newest records, in reverse natural order, until one older than the re-read span: a read that
    // costs what was published since, on MongoDB and on FerretDB (patched to run it on the record id),
    // however much the collection holds. Put back in the collection's order by each record's place.
    let rows: LiveEvent[] = [];
    for (let limit = NEWEST_FIRST_READ; ; limit *= 4) {
      rows = await collection.find({}, { showRecordId: true, useBigInt64: true }).sort({ $natural: -1 }).limit(limit).toArray();
      // A second of margin: publishers' clocks and their inserts' places agree only roughly.
      if (rows.length < limit || rows[rows.length - 1]!.publishedAt.getTime() < since - 1000) break;
    }
    rows = rows.filter((row) => row.publishedAt.getTime() >= since);
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
        if (now !== seenHead || (fullOwed && fullDue()) || performance.now() - lastRead > safetyPollMs) {
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
