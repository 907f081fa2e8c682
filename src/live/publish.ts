import { MongoBulkWriteError } from 'mongodb';
import { DUPLICATE_KEY, type Collections } from '../db/mongo';
import { databaseOf, LIVE_EVENTS_HEAD, openLiveEvents, type LiveEventsHead } from './collection';
import type { LiveEvent, NewLiveEvent } from './types';

/**
 * Appends events to the live stream, in the given order. An event whose id is already there was
 * published by an earlier run of the same activity and is skipped, so a retry publishes nothing twice.
 * Any other failure is thrown: the activity is retried rather than an event lost.
 */
export async function publishLiveEvents(db: Collections, events: NewLiveEvent[]): Promise<void> {
  if (events.length === 0) return;
  const collection = await openLiveEvents(databaseOf(db));
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
  // After the events: a tail that sees the head move finds them.
  await collection.db.collection<LiveEventsHead>(LIVE_EVENTS_HEAD).updateOne({ _id: 'head' }, { $inc: { published: 1 } }, { upsert: true });
}
