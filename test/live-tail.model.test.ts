/**
 * A randomized test of the live events' reader (src/live/tail.ts) on the real FerretDB: publishers
 * stamp events and insert them after random delays, some longer than the tail's quick re-read (2 s)
 * and of either order, into a real capped collection, moving the head counter as publishLiveEvents
 * does; the tail runs with its production windows. Invariant, once every insert has landed and a full
 * re-read has passed: the hub was handed every event exactly once, and nothing else.
 *
 * The seed is printed; `TAIL_MODEL_SEED=<seed>` replays it. TAIL_MODEL_RUNS (default 3) sets the runs.
 */
import fc from 'fast-check';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import { LIVE_EVENTS_HEAD, openLiveEvents, type LiveEventsHead } from '../src/live/collection';
import type { LiveHub } from '../src/live/hub';
import { startLiveTail } from '../src/live/tail';
import type { LiveEvent } from '../src/live/types';

const RUNS = Number(process.env.TAIL_MODEL_RUNS ?? 3);
const SEED = process.env.TAIL_MODEL_SEED ? Number(process.env.TAIL_MODEL_SEED) : Date.now() % 2 ** 31;

interface Publish {
  /** Milliseconds after the run's start at which the publisher stamps the event. */
  stampAt: number;
  /** Milliseconds between the stamp and the insert: a slow publisher. */
  insertDelay: number;
}

const publishes = fc.array(
  fc.record({
    stampAt: fc.integer({ min: 0, max: 3000 }),
    insertDelay: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 50 }) }, { weight: 1, arbitrary: fc.integer({ min: 2100, max: 4000 }) }),
  }),
  { minLength: 5, maxLength: 60 },
);

let client: MongoClient;
beforeAll(async () => {
  client = await MongoClient.connect(process.env.TEST_MONGODB_URI!);
});
afterAll(async () => {
  await client?.close();
});

test(`the tail hands every event exactly once, late inserts too (${RUNS} runs, seed ${SEED})`, async () => {
  process.stdout.write(`live tail model: seed ${SEED} (replay with TAIL_MODEL_SEED=${SEED})\n`);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(publishes, async (plan: Publish[]) => {
      const db = client.db(`tail_model_${process.pid}_${run++}`);
      const collection = await openLiveEvents(db, 4 * 1024 * 1024);
      const head = db.collection<LiveEventsHead>(LIVE_EVENTS_HEAD);
      const handed: string[] = [];
      const hub = { append: (event: LiveEvent) => void handed.push(event._id) } as unknown as LiveHub;
      const tail = startLiveTail({ collection, hub, log: pino({ level: 'silent' }), rereadWindowMs: 60_000 });
      try {
        const started = Date.now();
        await Promise.all(
          plan.map(async (p, i) => {
            await new Promise((resolve) => setTimeout(resolve, p.stampAt));
            const publishedAt = new Date();
            await new Promise((resolve) => setTimeout(resolve, p.insertDelay));
            const event = {
              _id: `ev_${i}`,
              type: 'delivery',
              tenantId: 't',
              endpointId: 'e',
              messageId: `m${i}`,
              eventType: 'x',
              status: 'PENDING',
              attempt: null,
              at: publishedAt,
              publishedAt,
            };
            await collection.insertOne(event as LiveEvent);
            await head.updateOne({ _id: 'head' }, { $inc: { published: 1 } }, { upsert: true });
          }),
        );
        // A full re-read comes within a second of a quick one; leave it two, and the poll.
        await new Promise((resolve) => setTimeout(resolve, 2500));
        const expected = plan.map((_, i) => `ev_${i}`).sort();
        expect([...handed].sort()).toEqual(expected);
        expect(new Set(handed).size).toBe(handed.length);
        expect(Date.now() - started).toBeLessThan(60_000);
      } finally {
        await tail.stop();
        await db.dropDatabase();
      }
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
}, 300_000);
