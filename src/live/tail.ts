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

/** How many of the newest records a full read asks for at least; four times more while that is not enough. */
const NEWEST_FIRST_READ = 64;
/**
 * A quick read takes the places published since the last read (the head counts events) and this many
 * more: an insert that commits a little after later ones, with an older place, is among them.
 */
const QUICK_READ_MARGIN = 16;
/** A head that moved further than this is read as a full read. */
const QUICK_READ_MAX = 2_048;

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
 * not what the collection holds. A moved head reads only the places it moved over (the head counts
 * events) and `QUICK_READ_MARGIN` more; the whole `tailRereadMs` (15 s) is re-read at most every
 * `fullRereadEveryMs` (1 s), asking at once for about as many records as the last full read found.
 * At 20 events a second a quick read decodes about 17 records, not the 64 to 300 a time span took:
 * an event whose insert commits behind more than the margin's places is still handed over, up to a
 * second later. (`quickRereadMs`, 2 s, bounds how old an event a quick read hands over.)
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
  /** How many records the last full read found in its span: the next one asks for about as many at once. */
  let lastFullCount = 0;
  const newest = (limit: number) => collection.find({}, { showRecordId: true, useBigInt64: true }).sort({ $natural: -1 }).limit(limit).toArray();

  /** `moved`: how many events the head says were published since the last read (null: not known). */
  async function readNew(moved: number | null): Promise<void> {
    const full = fullDue() || moved === null || moved + QUICK_READ_MARGIN > QUICK_READ_MAX;
    if (full) lastFullRead = performance.now();
    fullOwed = !full;
    const since = watermark - (full ? tailRereadMs : Math.min(quickRereadMs, tailRereadMs));
    // The newest records, in reverse natural order: a read that costs what was published since, on
    // MongoDB and on FerretDB (patched to run it on the record id), however much the collection holds.
    // Put back in the collection's order by each record's place.
    let rows: LiveEvent[] = [];
    if (full) {
      // Until one older than the re-read span, with a second of margin: publishers' clocks and their
      // inserts' places agree only roughly.
      for (let limit = Math.max(NEWEST_FIRST_READ, Math.ceil(lastFullCount * 1.25)); ; limit *= 4) {
        rows = await newest(limit);
        if (rows.length < limit || rows[rows.length - 1]!.publishedAt.getTime() < since - 1000) break;
      }
    } else {
      // The places the head moved over, and a margin for inserts that committed late by a little; one
      // that committed later still, behind more places than that, comes with the next full read.
      rows = await newest(moved! + QUICK_READ_MARGIN);
    }
    rows = rows.filter((row) => row.publishedAt.getTime() >= since);
    if (full) lastFullCount = rows.length;
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
          const moved = seenHead === null || now < seenHead ? null : now - seenHead;
          seenHead = now;
          lastRead = performance.now();
          await readNew(moved);
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
