import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { MongoClient } from 'mongodb';
import type { AddressInfo } from 'node:net';
import { buildWebhookRequest, generateSecret } from '../../src/webhooks/signing';
import {
  createMemoryStore,
  createMongoStore,
  createWebhookHandler,
  inEventOrder,
  type ReceivedMessage,
  type ReceiverStore,
  type WebhookHandler,
  type WebhookHandlerOptions,
} from '../../src/receiver';

const secret = generateSecret();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until<T>(check: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(20);
  }
}

let server: Server;
let handler: WebhookHandler;
let url: string;

async function start(options: Partial<WebhookHandlerOptions> & { store: ReceiverStore; process: WebhookHandlerOptions['process'] }) {
  handler = createWebhookHandler({ secrets: [secret], retryDelayMs: () => 50, pollIntervalMs: 50, onError: () => undefined, ...options });
  server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
}

afterEach(async () => {
  await handler?.close();
  await new Promise((resolve) => server?.close(resolve));
});

function signed(id: string, data: unknown = { orderId: 'A-1' }, occurredAt = new Date(), secrets = [secret]) {
  return buildWebhookRequest({ secrets, messageId: id, eventType: 'order.updated', occurredAt, payload: data, now: new Date() });
}

async function post(request: { headers: Record<string, string>; body: string }, method = 'POST') {
  const response = await fetch(url, { method, headers: request.headers, body: method === 'GET' ? undefined : request.body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('createWebhookHandler', () => {
  it('acknowledges with 202 before processing ends, and processes a message delivered twice once', async () => {
    const store = createMemoryStore();
    const processed: ReceivedMessage[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await start({ store, process: async (message) => (processed.push(message), held) });
    const request = signed('msg_1', { orderId: 'A-1', total: 3 });

    expect(await post(request)).toEqual({ status: 202, body: { id: 'msg_1', status: 'accepted' } });
    await until(() => (processed.length === 1 ? true : undefined));
    expect((await store.get('msg_1'))?.status).toBe('processing'); // still running, already acknowledged
    expect(await post(request)).toEqual({ status: 202, body: { id: 'msg_1', status: 'duplicate' } });
    release();
    await until(async () => ((await store.get('msg_1'))?.status === 'done' ? true : undefined));
    await post(request);
    await sleep(200);
    expect(processed.map((m) => [m.id, m.type, m.data])).toEqual([['msg_1', 'order.updated', { orderId: 'A-1', total: 3 }]]);
  });

  it('answers 401 or 400 with the reason, 413 over the size limit, 405 to other methods, and records nothing', async () => {
    const store = createMemoryStore();
    let calls = 0;
    await start({ store, process: () => void (calls += 1), maxBodyBytes: 2048 });
    const good = signed('msg_2');
    expect(
      await post({
        ...good,
        headers: { ...good.headers, 'webhook-signature': signed('msg_2', {}, new Date(), [generateSecret()]).headers['webhook-signature'] },
      }),
    ).toMatchObject({ status: 401, body: { error: 'bad_signature' } });
    const { 'webhook-id': _id, ...noId } = good.headers;
    expect(await post({ ...good, headers: noId })).toMatchObject({ status: 400, body: { error: 'missing_header' } });
    const old = buildWebhookRequest({
      secrets: [secret],
      messageId: 'msg_3',
      eventType: 't',
      occurredAt: new Date(),
      payload: {},
      now: new Date(Date.now() - 600_000),
    });
    expect(await post(old)).toMatchObject({ status: 401, body: { error: 'timestamp_too_old' } });
    expect(await post(signed('msg_4', { blob: 'x'.repeat(4000) }))).toMatchObject({ status: 413, body: { error: 'body_too_large' } });
    expect(await post(good, 'GET')).toMatchObject({ status: 405 });
    await sleep(150);
    expect(calls).toBe(0);
    expect(await store.seen(['msg_2', 'msg_3', 'msg_4'])).toEqual(new Set());
  });

  it('retries a process that throws, with backoff, and keeps a message that always fails as failed', async () => {
    const store = createMemoryStore();
    const calls = new Map<string, number>();
    await start({
      store,
      maxAttempts: 3,
      process: (message) => {
        const n = (calls.get(message.id) ?? 0) + 1;
        calls.set(message.id, n);
        if (message.id === 'flaky' && n < 3) throw new Error(`flaky failure ${n}`);
        if (message.id === 'broken') throw new Error('always broken');
      },
    });
    await post(signed('flaky'));
    await post(signed('broken'));
    await until(async () => ((await store.get('flaky'))?.status === 'done' && (await store.get('broken'))?.status === 'failed' ? true : undefined));
    expect(await store.get('flaky')).toMatchObject({ attempts: 3, lastError: 'flaky failure 2' });
    expect(await store.get('broken')).toMatchObject({ status: 'failed', attempts: 3, lastError: 'always broken' });
    await sleep(200);
    expect(Object.fromEntries(calls)).toEqual({ flaky: 3, broken: 3 });
    expect((await store.list('failed')).map((m) => m.id)).toEqual(['broken']);
  });

  it('resumes the messages a previous process recorded and did not finish', async () => {
    const store = createMemoryStore();
    await store.record({ id: 'left-1', type: 't', timestamp: new Date().toISOString(), data: 1 });
    await store.record({ id: 'left-2', type: 't', timestamp: new Date().toISOString(), data: 2 });
    const seen: string[] = [];
    await start({ store, process: (m) => void seen.push(m.id) });
    await until(() => (seen.length === 2 ? true : undefined));
    expect(seen.sort()).toEqual(['left-1', 'left-2']);
  });

  it('answers 503, not 202, when the store cannot record the message', async () => {
    const store = createMemoryStore();
    await start({ store: { ...store, record: () => Promise.reject(new Error('store down')) }, process: () => undefined });
    expect(await post(signed('msg_5'))).toMatchObject({ status: 503, body: { error: 'store_unavailable' } });
  });
});

describe('two receiver processes on one store', () => {
  it.each(['memory', 'MongoDB (FerretDB)'])('%s: a process longer than the lease keeps it, and the message runs once', async (kind) => {
    const client = kind === 'memory' ? null : await MongoClient.connect(process.env.TEST_MONGODB_URI!);
    const db = client?.db(`handler_${randomUUID().slice(0, 8)}`);
    const store = db ? createMongoStore({ db }) : createMemoryStore();
    const runs: string[] = [];
    const errors: unknown[] = [];
    // Either may claim it (the other polls every 20 ms); it runs for over three lease periods, renewing.
    const slow = (who: string) => async (m: ReceivedMessage) => (runs.push(`${who}:${m.id}`), sleep(2000));
    const common = { store, leaseMs: 600, pollIntervalMs: 20, onError: (e: unknown) => void errors.push(e) };
    await start({ ...common, process: slow('first') });
    const other = createWebhookHandler({ secrets: [secret], ...common, process: slow('second') });
    try {
      await post(signed('long-1'));
      await until(async () => ((await store.get('long-1'))?.status === 'done' ? true : undefined), 8000);
      await sleep(300);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatch(/^(first|second):long-1$/);
      expect(errors).toEqual([]);
      expect((await store.get('long-1'))?.attempts).toBe(1);
    } finally {
      await other.close();
      await db?.dropDatabase();
      await client?.close();
    }
  });
});

describe('inEventOrder', () => {
  const order = (id: string, minutesAgo: number, status: string) => signed(id, { orderId: 'A-1', status }, new Date(Date.now() - minutesAgo * 60_000));

  it.each(['drop', 'hold'] as const)('%s: an event older than the newest processed for its key is not applied', async (stale) => {
    const store = createMemoryStore();
    const applied: string[] = [];
    await start({
      store,
      concurrency: 1,
      process: inEventOrder(
        { store, stale, key: (m) => `order:${(m.data as { orderId: string }).orderId}` },
        (m) => void applied.push((m.data as { status: string }).status),
      ),
    });
    await post(order('e2', 1, 'paid'));
    await until(async () => ((await store.get('e2'))?.status === 'done' ? true : undefined));
    await post(order('e1', 5, 'created')); // a late retry of an older event
    await post(order('e3', 0, 'shipped'));
    await until(async () => ((await store.get('e3'))?.status === 'done' && (await store.get('e1'))?.status !== 'pending' ? true : undefined));
    await until(async () => ((await store.get('e1'))?.status === (stale === 'drop' ? 'done' : 'failed') ? true : undefined));
    expect(applied).toEqual(['paid', 'shipped']);
    if (stale === 'hold') expect((await store.get('e1'))?.lastError).toMatch(/^stale event for order:A-1/);
    expect((await store.get('e1'))?.attempts).toBe(1);
  });

  it('with concurrent runners, events of one key never apply out of order', async () => {
    const store = createMemoryStore();
    const applied: number[] = [];
    let inside = 0;
    let overlapped = false;
    await start({
      store,
      concurrency: 4,
      process: inEventOrder({ store, stale: 'drop', key: () => 'order:A-1' }, async (m) => {
        overlapped ||= inside > 0;
        inside += 1;
        await sleep(5 + Math.random() * 20);
        applied.push((m.data as { n: number }).n);
        inside -= 1;
      }),
    });
    const shuffled = Array.from({ length: 12 }, (_, n) => n).sort(() => Math.random() - 0.5);
    await Promise.all(shuffled.map((n) => post(signed(`o${n}`, { orderId: 'A-1', n }, new Date(Date.now() - 60_000 + n * 1000)))));
    await until(async () => ((await store.list('done', 100)).length === 12 ? true : undefined));
    expect(overlapped).toBe(false);
    expect(applied).toEqual([...applied].sort((a, b) => a - b));
    expect(applied.at(-1)).toBe(11);
  });
});
