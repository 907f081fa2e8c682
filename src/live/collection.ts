import type { Collection, Db } from 'mongodb';
import type { Collections } from '../db/mongo';
import type { LiveEvent } from './types';

export const LIVE_EVENTS = 'liveEvents';

/**
 * One document counting published events. A tail reads it by `_id` (on FerretDB the only query that does not
 * read the whole collection) and asks the capped collection for more only when it moved.
 */
export const LIVE_EVENTS_HEAD = 'liveEventsHead';
export interface LiveEventsHead {
  _id: 'head';
  published: number;
}

/** 256 MiB: about 600,000 events of ~400 bytes, 24 hours at 7 events a second. */
export const DEFAULT_LIVE_EVENTS_MAX_BYTES = 256 * 1024 * 1024;

const opened = new WeakMap<Db, Promise<Collection<LiveEvent>>>();

/**
 * The capped collection the live events travel through. It must exist, capped, before the first
 * insert: an insert into a missing collection would create an ordinary one, which cannot be tailed.
 * Created once per database handle; a size given later for the same handle is ignored.
 */
export function openLiveEvents(db: Db, maxBytes = DEFAULT_LIVE_EVENTS_MAX_BYTES): Promise<Collection<LiveEvent>> {
  let collection = opened.get(db);
  if (!collection) {
    collection = createCapped(db, maxBytes);
    opened.set(db, collection);
    collection.catch(() => opened.delete(db));
  }
  return collection;
}

async function createCapped(db: Db, maxBytes: number): Promise<Collection<LiveEvent>> {
  const existing = await db.listCollections({ name: LIVE_EVENTS }).toArray();
  if (existing.length === 0) {
    try {
      await db.createCollection(LIVE_EVENTS, { capped: true, size: maxBytes });
    } catch (error) {
      // Another process created it first (NamespaceExists).
      if ((error as { code?: number }).code !== 48) throw error;
    }
  } else if (!(existing[0] as { options?: { capped?: boolean } }).options?.capped) {
    throw new Error(`the collection ${LIVE_EVENTS} exists but is not capped: drop it (it holds only transient live events) and restart`);
  }
  const collection = db.collection<LiveEvent>(LIVE_EVENTS);
  // The tails' and the resumes' range (MongoDB uses it; FerretDB accepts it and reads everything).
  await collection.createIndex({ publishedAt: 1 }, { name: 'published' });
  return collection;
}

/** The database of the service's collections: the live events live beside them. */
export const databaseOf = (db: Collections): Db => db.messages.db;
