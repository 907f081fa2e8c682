/**
 * publishLiveEvents on the real FerretDB: publishes that arrive while a write is under way go out
 * together (one insert, one move of the head), each in its own order, none twice, and a failed write
 * fails only the publishes it carried.
 */
import { MongoClient, type Db } from 'mongodb';
import type { Collections } from '../src/db/mongo';
import { LIVE_EVENTS, LIVE_EVENTS_HEAD, type LiveEventsHead } from '../src/live/collection';
import { publishLiveEvents } from '../src/live/publish';
import type { NewLiveEvent } from '../src/live/types';

let client: MongoClient;
/** The writes the driver sent, as `insert liveEvents`, `update liveEventsHead`. */
let writes: string[] = [];
beforeAll(async () => {
  client = await MongoClient.connect(process.env.TEST_MONGODB_URI!, { monitorCommands: true });
  client.on('commandStarted', (event) => {
    if (event.commandName === 'insert' || event.commandName === 'update') writes.push(`${event.commandName} ${event.command[event.commandName]}`);
  });
});
beforeEach(() => {
  writes = [];
});
afterAll(async () => {
  await client?.close();
});

let databases = 0;
const freshDb = () => client.db(`live_publish_${process.pid}_${databases++}`);
const collectionsOf = (db: Db) => ({ messages: db.collection('messages') }) as unknown as Collections;
const event = (id: string, extra: Record<string, unknown> = {}): NewLiveEvent => ({
  _id: id,
  type: 'delivery',
  tenantId: 't',
  endpointId: 'e',
  messageId: id,
  eventType: 'x',
  status: 'SUCCEEDED',
  attempt: null,
  at: new Date(),
  ...extra,
});
const head = async (db: Db) => (await db.collection<LiveEventsHead>(LIVE_EVENTS_HEAD).findOne({ _id: 'head' }))?.published;
const stored = async (db: Db) => (await db.collection(LIVE_EVENTS).find({}).sort({ $natural: 1 }).toArray()).map((d) => String(d._id));

test('publishes made during a write go out in one batch: every event once, each publish in its order, one insert and one head move a batch', async () => {
  const db = freshDb();
  const publishers = Array.from({ length: 40 }, (_, p) => Array.from({ length: 1 + (p % 3) }, (_, i) => event(`p${p}-${i}`)));
  await Promise.all(publishers.map((events) => publishLiveEvents(collectionsOf(db), events)));

  const ids = await stored(db);
  const expected = publishers.flat().map((e) => e._id);
  expect([...ids].sort()).toEqual([...expected].sort());
  for (const events of publishers) {
    const at = events.map((e) => ids.indexOf(e._id));
    expect(at).toEqual([...at].sort((a, b) => a - b));
  }
  // The first publish is written alone; the 39 queued behind it go out together.
  expect(writes).toEqual(['insert liveEvents', 'update liveEventsHead', 'insert liveEvents', 'update liveEventsHead']);
  // The head counts the events, so that a tail knows how many of the newest places to read.
  expect(await head(db)).toBe(expected.length);
});

test('a retried publish skips the events already written and writes the rest, in a batch with others', async () => {
  const db = freshDb();
  await publishLiveEvents(collectionsOf(db), [event('a'), event('b')]);
  writes = [];
  await Promise.all([
    publishLiveEvents(collectionsOf(db), [event('c')]),
    publishLiveEvents(collectionsOf(db), [event('a'), event('b'), event('d')]),
    publishLiveEvents(collectionsOf(db), [event('e')]),
  ]);
  expect(await stored(db)).toEqual(['a', 'b', 'c', 'd', 'e']);
  expect(writes.filter((w) => w === 'update liveEventsHead')).toHaveLength(2);
});

test('a write that fails rejects the publishes it carried, and the next publish is written', async () => {
  const db = freshDb();
  await publishLiveEvents(collectionsOf(db), [event('first')]);
  // Over the 16 MiB document limit: the driver refuses the insert.
  const huge = event('huge', { reason: 'x'.repeat(17 * 1024 * 1024) });
  const [blocking, withHuge, beside] = await Promise.allSettled([
    publishLiveEvents(collectionsOf(db), [event('blocking')]),
    publishLiveEvents(collectionsOf(db), [huge]),
    publishLiveEvents(collectionsOf(db), [event('beside')]),
  ]);
  expect(blocking.status).toBe('fulfilled');
  expect(withHuge.status).toBe('rejected');
  // In the same batch as the failed one: rejected too, so that its activity is retried.
  expect(beside.status).toBe('rejected');
  await publishLiveEvents(collectionsOf(db), [event('beside'), event('after')]);
  expect(await stored(db)).toEqual(['first', 'blocking', 'beside', 'after']);
});
