import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { Pool } from 'pg';
import { freePort } from '../../src/dev/servers';
import { createMemoryStore, createMongoStore, reconcile, type WebhookMessage } from '../../src/receiver';
import { eventually, startStack, type TestStack } from '../helpers/stack';
import { describeWithPostgres, pgUrl } from '../helpers/postgres';

const root = path.resolve(__dirname, '../..');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Hookflow's delivery timeout here; the proxy of the PostgreSQL test answers some deliveries after it. */
const HOOKFLOW_TIMEOUT_MS = 3000;
/** Hookflow retries every 250 ms, for long enough to outlast a receiver restart. */
const steadyRetries = { maxRetries: 100, retriesUntilFailure: 100, initialIntervalMs: 250, backoffCoefficient: 1, maxIntervalMs: 250, jitter: 0 };

interface ReceiverProcess {
  child: ChildProcess;
  output: () => string;
  kill(): Promise<void>;
}

/** A receiver as its own Node process (tsx loader, no wrapper process): SIGKILL kills it and nothing else. */
async function spawnReceiver(file: string, env: Record<string, string>): Promise<ReceiverProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`receiver exited: ${output}`);
      return /listening/.test(output) ? true : undefined;
    },
    30_000,
    `receiver to listen (${file})`,
  );
  return {
    child,
    output: () => output,
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

let stack: TestStack;
const running: ReceiverProcess[] = [];
beforeAll(async () => {
  stack = await startStack({ deliveryTimeoutMs: HOOKFLOW_TIMEOUT_MS });
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.kill()));
});
afterAll(() => stack?.stop());

async function createEndpoint(url: string) {
  const result = await stack.gql('mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } secret } }', {
    input: { url, retryPolicy: steadyRetries },
  });
  if (result.errors) throw new Error(result.errors[0].message);
  return { id: result.data.createEndpoint.endpoint.id as string, secret: result.data.createEndpoint.secret as string };
}

async function send(eventType: string, payload: unknown, occurredAt?: Date): Promise<string> {
  const result = await stack.gql('mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }', {
    input: { eventType, payload, occurredAt: occurredAt?.toISOString() },
  });
  if (result.errors) throw new Error(result.errors[0].message);
  return result.data.sendMessage.id;
}

async function receiverDb(): Promise<{ db: Db; close(): Promise<void> }> {
  const client = await MongoClient.connect(process.env.TEST_MONGODB_URI!);
  const db = client.db(`example_receiver_${randomUUID().slice(0, 8)}`);
  return { db, close: async () => (await db.dropDatabase(), await client.close()) };
}

function exampleEnv(db: Db, port: number, extra: Record<string, string> = {}) {
  return {
    RECEIVER_PORT: String(port),
    MONGODB_URI: process.env.TEST_MONGODB_URI!,
    RECEIVER_DB: db.databaseName,
    HOOKFLOW_API_URL: stack.api.url,
    HOOKFLOW_API_KEY: stack.apiKey,
    ...extra,
  };
}

describe('the example receiver (examples/receiver)', () => {
  test('registers its endpoint, and Hookflow delivers to it: orders synced to MongoDB in event order', async () => {
    await stack.useNewTenant();
    const { db, close } = await receiverDb();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'example-receiver-'));
    try {
      const port = await freePort();
      running.push(await spawnReceiver('examples/receiver/main.ts', exampleEnv(db, port, { HOOKFLOW_DATA_DIR: dataDir })));
      const registration = JSON.parse(readFileSync(path.join(dataDir, 'example-receiver.json'), 'utf8'));
      expect(registration).toMatchObject({
        url: `http://127.0.0.1:${port}/webhooks`,
        endpointId: expect.stringMatching(/^ep_/),
        secret: expect.stringMatching(/^whsec_/),
      });
      // Retries in a quarter of a second rather than the default minute, should a loaded machine miss a timeout.
      const updated = await stack.gql('mutation ($id: ID!, $input: UpdateEndpointInput!) { updateEndpoint(id: $id, input: $input) { id } }', {
        id: registration.endpointId,
        input: { retryPolicy: steadyRetries },
      });
      expect(updated.errors).toBeUndefined();

      const t0 = Date.now() - 60_000;
      // The receiver's store, read as it reads itself (its documents' status fields are only hints).
      const store = createMongoStore({ db });
      const done = (count: number) =>
        eventually(async () => ((await store.list('done', 1000)).length === count ? true : undefined), 30_000, `${count} processed`);
      const ids = [await send('order.created', { orderId: 'A-1', total: 10 }, new Date(t0))];
      await done(1);
      ids.push(
        await send('order.paid', { orderId: 'A-1', total: 10 }, new Date(t0 + 2000)),
        await send('order.created', { orderId: 'B-2', total: 7 }, new Date(t0 + 1000)),
        await send('customer.created', { customerId: 'C-9' }, new Date(t0 + 1000)),
      );
      await done(4);
      // A late retry of an order's older event does not overwrite the newer state.
      const late = await send('order.created', { orderId: 'A-1', total: 10 }, new Date(t0 + 1000));
      await eventually(async () => ((await store.get(late))?.status === 'done' ? true : undefined), 30_000, 'late event handled');

      const orders = await db.collection('orders').find().sort({ _id: 1 }).toArray();
      expect(orders.map((o) => [o._id, o.status, o.lastMessageId])).toEqual([
        ['A-1', 'paid', ids[1]],
        ['B-2', 'created', ids[2]],
      ]);
      const applied = await db.collection('order_events').find().toArray();
      expect(applied.map((e) => e._id).sort()).toEqual([ids[0], ids[1], ids[2]].sort());
      // Hookflow saw each delivery acknowledged once, with 202.
      const history = await stack.gql('query ($id: ID!) { message(id: $id) { deliveries { status attempts { statusCode } } } }', { id: ids[1] });
      expect(history.data.message.deliveries).toEqual([{ status: 'SUCCEEDED', attempts: [{ statusCode: 202 }] }]);
    } finally {
      await close();
    }
  }, 90_000);

  test('a receiver that fails sometimes and is killed mid-stream loses nothing and applies each message once', async () => {
    await stack.useNewTenant();
    const { db, close } = await receiverDb();
    try {
      const port = await freePort();
      const endpoint = await createEndpoint(`http://127.0.0.1:${port}/webhooks`);
      const env = exampleEnv(db, port, {
        HOOKFLOW_WEBHOOK_SECRET: endpoint.secret,
        HOOKFLOW_ENDPOINT_ID: endpoint.id,
        HOOKFLOW_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'example-receiver-')),
        EXAMPLE_FAIL_RATE: '0.3',
        RECEIVER_MAX_ATTEMPTS: '20',
        RECEIVER_RETRY_BASE_MS: '20',
      });
      running.push(await spawnReceiver('examples/receiver/main.ts', env));
      const messages = db.collection('webhook_messages');
      const store = createMongoStore({ db });
      const doneCount = async () => (await store.list('done', 1000)).length;
      const t0 = Date.now() - 600_000;
      const steps = ['created', 'paid', 'shipped'];
      const sent: string[] = [];
      const sendBatch = async (from: number, to: number) => {
        for (let i = from; i < to; i++) sent.push(await send(`order.${steps[Math.floor(i / 10)]}`, { orderId: `O-${i % 10}` }, new Date(t0 + i * 1000)));
      };
      await sendBatch(0, 15);
      await eventually(async () => ((await messages.countDocuments()) >= 8 ? true : undefined), 30_000, 'some messages received');
      await running[0].kill(); // mid-stream: some messages processed, some pending, some not yet delivered
      const atKill = await doneCount();
      await sendBatch(15, 30); // while it is down: Hookflow retries them, and the restarted receiver reconciles
      running.push(await spawnReceiver('examples/receiver/main.ts', env));
      await eventually(async () => ((await doneCount()) === 30 ? true : undefined), 60_000, 'all 30 processed');

      expect(atKill).toBeLessThan(30);
      // Every order ends in its newest state. Events overtaken by a newer one of the same order (a retry
      // of a failed attempt can be) are dropped as stale; the rest are applied, each once.
      const orders = await db.collection('orders').find().toArray();
      expect(orders).toHaveLength(10);
      expect(orders.every((o) => o.status === 'shipped')).toBe(true);
      const applied = (await db.collection('order_events').find().toArray()).map((e) => e._id as unknown as string);
      expect(applied.every((id) => sent.includes(id))).toBe(true);
      expect(new Set(applied).size).toBe(applied.length);
      expect(sent.slice(20).every((id) => applied.includes(id))).toBe(true);
      // Process failed and was retried: some messages took more than one attempt.
      const finished = await Promise.all(sent.map((id) => store.get(id)));
      expect(finished.every((m) => m?.status === 'done')).toBe(true);
      expect(finished.some((m) => m!.attempts > 1)).toBe(true);
    } finally {
      await close();
    }
  }, 150_000);
});

describeWithPostgres('a PostgreSQL receiver killed and restarted mid-stream', () => {
  let pool: Pool;
  let schema: string;
  beforeAll(() => {
    pool = new Pool({ connectionString: pgUrl(), max: 2 });
  });
  beforeEach(() => {
    schema = `receiver_e2e_${randomUUID().slice(0, 8)}`;
  });
  afterEach(() => pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  afterAll(() => pool.end());

  const effects = async () =>
    (await pool.query<{ message_id: string; n: number }>(`SELECT message_id, count(*)::int AS n FROM "${schema}".effects GROUP BY message_id`)).rows;

  test('processes every message exactly once, through failures, two SIGKILLs and late acknowledgements', async () => {
    await stack.useNewTenant();
    const port = await freePort();
    // Hookflow posts to this proxy, which answers the first delivery of some messages after Hookflow's
    // timeout: the receiver has recorded and acknowledged them, and Hookflow sends them again.
    const lateIds = new Set<string>();
    const forwarded = new Map<string, number>();
    const proxy: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const id = String(req.headers['webhook-id']);
        const seen = (forwarded.get(id) ?? 0) + 1;
        forwarded.set(id, seen);
        try {
          const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith('webhook-') || k === 'content-type')) as Record<
            string,
            string
          >;
          const answer = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers, body: Buffer.concat(chunks) });
          const text = await answer.text();
          if (lateIds.has(id) && seen === 1) await sleep(HOOKFLOW_TIMEOUT_MS + 500);
          res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
        } catch {
          res.writeHead(502).end(); // the receiver is down
        }
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = await createEndpoint(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}/hook`);
      const env = { PORT: String(port), PG_URL: pgUrl(), PG_SCHEMA: schema, WEBHOOK_SECRET: endpoint.secret, FAIL_RATE: '0.25' };
      const fixture = 'test/receiver/fixtures/pg-receiver.ts';
      running.push(await spawnReceiver(fixture, env));
      const sent: string[] = [];
      const total = 45;
      for (let i = 0; i < total; i++) {
        const id = await send('order.updated', { n: i });
        sent.push(id);
        if (i % 9 === 4) lateIds.add(id);
        if (i === 14 || i === 29) {
          // Let it get going, then kill it in the middle of processing, and start it again.
          await eventually(async () => ((await effects()).length >= i - 6 ? true : undefined), 30_000, 'processing under way');
          await running.pop()!.kill();
          await sleep(300);
          running.push(await spawnReceiver(fixture, env));
        }
      }
      await eventually(
        async () => {
          const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".webhook_messages WHERE status = 'done'`);
          return rows[0].n === total ? true : undefined;
        },
        90_000,
        `all ${total} processed`,
      );
      await eventually(async () => ([...lateIds].every((id) => (forwarded.get(id) ?? 0) >= 2) ? true : undefined), 20_000, 'late messages sent again');
      await sleep(500); // anything processed twice would have shown by now

      const counts = await effects();
      expect(counts.map((r) => r.message_id).sort()).toEqual([...sent].sort());
      expect(counts.filter((r) => r.n !== 1)).toEqual([]);
      const { rows: attempts } = await pool.query(`SELECT max(attempts)::int AS max FROM "${schema}".webhook_messages`);
      expect(attempts[0].max).toBeGreaterThan(1); // failures were retried, their writes rolled back
      expect(lateIds.size).toBe(5);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  }, 180_000);
});

describe('reconcile', () => {
  test('finds the messages sent while the receiver was down, and resumes from its cursor', async () => {
    await stack.useNewTenant();
    const store = createMemoryStore();
    const delivered: string[] = [];
    const receiver = createServer((req, res) => {
      delivered.push(String(req.headers['webhook-id']));
      req.resume();
      res.writeHead(202).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    const endpoint = await createEndpoint(`http://127.0.0.1:${port}/hook`);
    const since = new Date(Date.now() - 1000);

    const before = [
      await send('order.created', { orderId: 'R-1' }),
      await send('order.created', { orderId: 'R-2' }),
      await send('order.created', { orderId: 'R-3' }),
    ];
    await eventually(async () => (before.every((id) => delivered.includes(id)) ? true : undefined), 20_000, 'first three delivered');
    for (const id of before) await store.record({ id, type: 'order.created', timestamp: new Date().toISOString(), data: null });
    await new Promise((resolve) => receiver.close(resolve)); // down
    const whileDown: string[] = [];
    for (let i = 0; i < 5; i++) whileDown.push(await send('order.paid', { orderId: `R-${i}` }));
    const until = new Date(Date.now() + 1000);

    const missing: WebhookMessage[] = [];
    let failOnce = true;
    const onMissing = async (message: WebhookMessage) => {
      if (missing.length === 3 && failOnce) {
        failOnce = false;
        throw new Error('receiver busy');
      }
      await store.record(message);
      missing.push(message);
    };
    const options = { apiUrl: stack.api.url, apiKey: stack.apiKey, since, until, store, endpointId: endpoint.id, pageSize: 2, onMissing };
    await expect(reconcile(options)).rejects.toThrow('receiver busy');
    const resumed = await reconcile(options);
    expect(resumed).toMatchObject({ done: true, checked: 8 });
    expect(missing.map((m) => m.id).sort()).toEqual([...whileDown].sort());
    expect(missing.find((m) => m.id === whileDown[0])).toMatchObject({ type: 'order.paid', data: { orderId: 'R-0' } });

    // Finished windows are not paged again.
    let pages = 0;
    expect(await reconcile({ ...options, onPage: () => (pages += 1) })).toMatchObject({ done: true, checked: 8 });
    expect(pages).toBe(0);
    expect(await reconcile({ ...options, restart: true, onPage: () => (pages += 1) })).toMatchObject({ done: true, missing: 0, checked: 8 });
    expect(pages).toBeGreaterThanOrEqual(4);
  }, 60_000);
});
