import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { Pool, type PoolClient } from 'pg';
import { createMemoryStore, createMongoStore, createPostgresStore, type Claim, type ReceiverStore } from '../../src/receiver';
import { describeWithPostgres, pgUrl } from '../helpers/postgres';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const message = (id: string, data: unknown = { n: id }) => ({ id, type: 'order.updated', timestamp: '2026-01-15T12:00:00.000Z', data });

/** Claims as a runner's loop would, until something is due (PostgreSQL sees a closed connection a moment later). */
async function claimWithin(store: ReceiverStore, owner: string, ms: number): Promise<Claim> {
  const deadline = Date.now() + ms;
  for (;;) {
    const claim = await store.claim(owner, LEASE_MS);
    if (claim) return claim;
    if (Date.now() > deadline) throw new Error(`nothing to claim within ${ms} ms`);
    await sleep(20);
  }
}

interface Harness {
  store: ReceiverStore;
  /** What a runner that dies holding `claim` leaves behind, and how long until it can be taken over. */
  abandon(claim: Claim): Promise<void>;
  /** Whether a claim taken over can still complete (false: a lease that ran out is refused). */
  staleClaimsFail: boolean;
  close(): Promise<void>;
}

/** Long enough that a loaded machine's late timers do not end a lease before the test means to. */
const LEASE_MS = 1000;

/** The contract every store keeps; the handler relies on nothing else. */
function contract(name: string, open: () => Promise<Harness>) {
  describe(`${name} store`, () => {
    let h: Harness;
    let store: ReceiverStore;
    beforeEach(async () => {
      h = await open();
      store = h.store;
      await store.init();
      await store.init(); // idempotent
    });
    afterEach(() => h.close());

    it('records a message id once, and keeps what was recorded', async () => {
      expect(await store.record(message('m1', { orderId: 'A-1', total: 12.5 }))).toBe(true);
      expect(await store.record(message('m1', { something: 'else' }))).toBe(false);
      const stored = await store.get('m1');
      expect(stored).toMatchObject({
        id: 'm1',
        type: 'order.updated',
        timestamp: '2026-01-15T12:00:00.000Z',
        data: { orderId: 'A-1', total: 12.5 },
        status: 'pending',
        attempts: 0,
      });
      expect(await store.get('nope')).toBeNull();
    });

    it('hands each message to one claimer only, oldest first, even with two claiming at once', async () => {
      for (let i = 0; i < 20; i++) await store.record(message(`m${String(i).padStart(2, '0')}`));
      const claimed: string[] = [];
      const claimer = async (owner: string) => {
        for (;;) {
          const claim = await store.claim(owner, 10_000);
          if (!claim) return;
          claimed.push(claim.message.id);
          expect(claim.context.attempt).toBe(1);
          await sleep(5);
          expect(await claim.complete()).toBe(true);
        }
      };
      await Promise.all([claimer('a'), claimer('b')]);
      expect([...claimed].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `m${String(i).padStart(2, '0')}`));
      expect(await store.claim('c', 10_000)).toBeNull();
      expect((await store.list('done', 100)).length).toBe(20);
      expect((await store.get('m00'))?.completedAt).toBeInstanceOf(Date);
    });

    it('gives a retried message back only when it is due, with its error and attempt count', async () => {
      await store.record(message('r1'));
      const first = (await store.claim('a', 10_000))!;
      await first.retry('boom 1', new Date(Date.now() + 1000));
      expect(await store.claim('a', 10_000)).toBeNull();
      await sleep(1100);
      const second = (await store.claim('a', 10_000))!;
      expect(second.message).toMatchObject({ id: 'r1', attempts: 2, lastError: 'boom 1' });
      expect(second.context.attempt).toBe(2);
      await second.fail('boom 2');
      expect(await store.claim('a', 10_000)).toBeNull();
      expect(await store.get('r1')).toMatchObject({ status: 'failed', attempts: 2, lastError: 'boom 2' });
      expect((await store.list('failed')).map((m) => m.id)).toEqual(['r1']);
    });

    it('lets another runner take over the message of a runner that died holding it', async () => {
      await store.record(message('d1'));
      const dead = (await store.claim('dead', LEASE_MS))!;
      expect(await store.claim('alive', LEASE_MS)).toBeNull();
      await h.abandon(dead);
      const taken = await claimWithin(store, 'alive', 3000);
      expect(taken.message.id).toBe('d1');
      if (h.staleClaimsFail) expect(await dead.complete()).toBe(false);
      expect(await taken.complete()).toBe(true);
      expect(await store.get('d1')).toMatchObject({ status: 'done' });
    });

    it('keeps the lease of a claim that is renewed', async () => {
      // A longer lease than the other tests': timers on a loaded machine run late, and a late renewal is a lost lease.
      const lease = 1000;
      await store.record(message('l1'));
      const claim = (await store.claim('a', lease))!;
      for (let i = 0; i < 4; i++) {
        await sleep(lease / 3);
        expect(await claim.renew()).toBe(true);
      }
      expect(await store.claim('b', lease)).toBeNull();
      expect(await claim.complete()).toBe(true);
    });

    it('claims a named message only, and only when it is due', async () => {
      await store.record(message('n1'));
      await store.record(message('n2'));
      const second = (await store.claim('a', 10_000, 'n2'))!;
      expect(second.message.id).toBe('n2');
      expect(await store.claim('b', 10_000, 'n2')).toBeNull(); // held
      expect(await store.claim('b', 10_000, 'missing')).toBeNull();
      await second.retry('later', new Date(Date.now() + 60_000));
      expect(await store.claim('b', 10_000, 'n2')).toBeNull(); // not due
      const first = (await store.claim('b', 10_000))!;
      expect(first.message.id).toBe('n1');
      await first.complete();
      expect(await store.claim('b', 10_000, 'n1')).toBeNull(); // done
    });

    it('says which ids it has seen', async () => {
      await store.record(message('s1'));
      await store.record(message('s3'));
      expect([...(await store.seen(['s1', 's2', 's3', 's4']))].sort()).toEqual(['s1', 's3']);
      expect((await store.seen([])).size).toBe(0);
    });

    it('keeps the newest event time of a key, never moving it back', async () => {
      expect(await store.newestEventAt('order:A')).toBeNull();
      await store.advanceEventAt('order:A', new Date('2026-01-15T12:00:00Z'));
      await store.advanceEventAt('order:A', new Date('2026-01-15T11:00:00Z'));
      await store.advanceEventAt('order:A', new Date('2026-01-15T12:00:00Z'));
      expect(await store.newestEventAt('order:A')).toEqual(new Date('2026-01-15T12:00:00Z'));
      await store.advanceEventAt('order:A', new Date('2026-01-15T13:00:00Z'));
      expect(await store.newestEventAt('order:A')).toEqual(new Date('2026-01-15T13:00:00Z'));
      expect(await store.newestEventAt('order:B')).toBeNull();
    });

    it('keeps checkpoints', async () => {
      expect(await store.getCheckpoint('c')).toBeNull();
      await store.setCheckpoint('c', 'one');
      await store.setCheckpoint('c', 'two');
      expect(await store.getCheckpoint('c')).toBe('two');
    });
  });
}

contract('memory', async () => ({
  store: createMemoryStore(),
  abandon: () => sleep(LEASE_MS + 50),
  staleClaimsFail: true,
  close: async () => undefined,
}));

contract('MongoDB (FerretDB)', async () => {
  const client = await MongoClient.connect(process.env.TEST_MONGODB_URI!);
  const db = client.db(`receiver_${randomUUID().slice(0, 8)}`);
  return {
    store: createMongoStore({ db }),
    abandon: () => sleep(LEASE_MS + 50),
    staleClaimsFail: true,
    close: async () => {
      await db.dropDatabase();
      await client.close();
    },
  };
});

const openPostgres = async () => {
  const pool = new Pool({ connectionString: pgUrl(), max: 6 });
  const schema = `receiver_test_${randomUUID().slice(0, 8)}`;
  const store = createPostgresStore({ pool, schema });
  // Claims a failed test left open hold connections, which pool.end() would wait for: closed at the end.
  const open: PoolClient[] = [];
  const claim = store.claim;
  store.claim = async (...args) => {
    const taken = await claim(...args);
    if (taken) open.push(taken.context.db as PoolClient);
    return taken;
  };
  return {
    pool,
    schema,
    store,
    // A dead runner's connection closes: PostgreSQL rolls its transaction back and unlocks the row.
    abandon: async (claim: Claim) => (claim.context.db as PoolClient).release(true),
    staleClaimsFail: false,
    close: async () => {
      for (const client of open) {
        try {
          client.release(true);
        } catch {
          // released already, by the claim's end
        }
      }
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
};

describeWithPostgres('PostgreSQL', () => {
  contract('PostgreSQL', openPostgres);

  describe('PostgreSQL transaction around claim and completion', () => {
    let h: Awaited<ReturnType<typeof openPostgres>>;
    beforeEach(async () => {
      h = await openPostgres();
      await h.store.init();
      await h.pool.query(`CREATE TABLE "${h.schema}".effects (message_id text, note text)`);
    });
    afterEach(() => h.close());
    const effects = async () => (await h.pool.query(`SELECT message_id, note FROM "${h.schema}".effects ORDER BY note`)).rows;

    it('commits what process wrote with the completion, and undoes it with a retry or a failure', async () => {
      await h.store.record(message('t1'));
      await h.store.record(message('t2'));
      const write = (claim: Claim, note: string) =>
        (claim.context.db as PoolClient).query(`INSERT INTO "${h.schema}".effects VALUES ($1, $2)`, [claim.message.id, note]);

      const retried = (await h.store.claim('a', 10_000))!;
      await write(retried, 'undone by retry');
      await retried.retry('boom', new Date(Date.now() + 300));
      const failed = (await h.store.claim('a', 10_000))!;
      expect(failed.message.id).toBe('t2');
      await write(failed, 'undone by failure');
      await failed.fail('final');
      await sleep(350);
      const completed = (await h.store.claim('a', 10_000))!;
      expect(completed.message).toMatchObject({ id: 't1', attempts: 2 });
      await write(completed, 'kept');
      expect(await effects()).toEqual([]); // not visible before the commit
      await completed.complete();
      expect(await effects()).toEqual([{ message_id: 't1', note: 'kept' }]);
      expect(await h.store.get('t2')).toMatchObject({ status: 'failed', lastError: 'final' });
    });

    it('loses what a runner that died had written, and processes the message again', async () => {
      await h.store.record(message('k1'));
      const dead = (await h.store.claim('dead', 10_000))!;
      await (dead.context.db as PoolClient).query(`INSERT INTO "${h.schema}".effects VALUES ('k1', 'lost')`);
      (dead.context.db as PoolClient).release(true);
      const next = await claimWithin(h.store, 'alive', 3000);
      await (next.context.db as PoolClient).query(`INSERT INTO "${h.schema}".effects VALUES ('k1', 'applied')`);
      await next.complete();
      expect(await effects()).toEqual([{ message_id: 'k1', note: 'applied' }]);
    });
  });
});
