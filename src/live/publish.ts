import { MongoBulkWriteError, type Collection, type Db } from 'mongodb';
import { DUPLICATE_KEY, type Collections } from '../db/mongo';
import { databaseOf, LIVE_EVENTS_HEAD, openLiveEvents, type LiveEventsHead } from './collection';
import type { LiveEvent, NewLiveEvent } from './types';

/** Publishes waiting for the next write: their events in the order they were handed over. */
interface Pending {
  events: NewLiveEvent[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * One group commit per database handle. Attempts that end while a write is under way wait for it to
 * finish and then go out together: one insert and one head move for all of them, instead of two round
 * trips each. A lone publish is written at once.
 */
interface Publisher {
  waiting: Pending[];
  writing: boolean;
}
const publishers = new WeakMap<Db, Publisher>();

/**
 * Appends events to the live stream, in the given order, and resolves once they and the head's move
 * are written. An event whose id is already there was published by an earlier run of the same activity
 * and is skipped, so a retry publishes nothing twice. Any other failure is thrown (to every publish
 * written in the same batch): the activity is retried rather than an event lost.
 */
export function publishLiveEvents(db: Collections, events: NewLiveEvent[]): Promise<void> {
  if (events.length === 0) return Promise.resolve();
  const database = databaseOf(db);
  let publisher = publishers.get(database);
  if (!publisher) publishers.set(database, (publisher = { waiting: [], writing: false }));
  const queued = new Promise<void>((resolve, reject) => publisher.waiting.push({ events, resolve, reject }));
  if (!publisher.writing) void drain(database, publisher);
  return queued;
}

async function drain(database: Db, publisher: Publisher): Promise<void> {
  publisher.writing = true;
  try {
    while (publisher.waiting.length > 0) {
      const batch = publisher.waiting.splice(0);
      try {
        await write(
          await openLiveEvents(database),
          batch.flatMap((p) => p.events),
        );
        for (const p of batch) p.resolve();
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
  } finally {
    publisher.writing = false;
  }
}

async function write(collection: Collection<LiveEvent>, events: NewLiveEvent[]): Promise<void> {
  const publishedAt = new Date();
  let remaining: LiveEvent[] = events.map((event) => ({ ...event, publishedAt }) as LiveEvent);
  while (remaining.length > 0) {
    try {
      // Ordered: one publisher's events keep their order in the collection.
      await collection.insertMany(remaining, { ordered: true });
      break;
    } catch (error) {
      const failed = error instanceof MongoBulkWriteError ? [error.writeErrors].flat()[0] : undefined;
      if (!failed || failed.code !== DUPLICATE_KEY) throw error;
      remaining = remaining.slice(failed.index + 1);
    }
  }
  // After the events: a tail that sees the head move finds them. The head counts events (those skipped
  // as already there too), so that a tail knows how many of the newest places to read.
  await collection.db.collection<LiveEventsHead>(LIVE_EVENTS_HEAD).updateOne({ _id: 'head' }, { $inc: { published: events.length } }, { upsert: true });
}
