import fc from 'fast-check';
import { LiveHub, encodeLiveCursor, decodeLiveCursor, type LiveEventStore, type LiveItem, type LiveSubscription } from '../../src/live/hub';
import type { LiveDeliveryEvent, LiveEvent } from '../../src/live/types';

/**
 * Model-based test of the fan-out and resume (src/live/hub.ts). Several publishers append events
 * to a capped store, each stamping its event before the store receives it (so publish times are not in
 * store order); two API processes each tail the store with its own lag into its own hub; subscribers
 * connect, read slowly (or not at all: SLOW_CONSUMER), disconnect and resume with `after` on either
 * process. Invariant: what a subscriber received, across all its resumes, is exactly the store's
 * events it accepts from where it started, in store order (so each once, and per message and
 * endpoint in the order they happened), unless it was told CURSOR_EXPIRED, and then a prefix of it.
 *
 * The seed is printed; `LIVE_MODEL_SEED=<seed>` replays a run (with `LIVE_MODEL_RUNS=1`).
 */

const WINDOW = 1_000;
const TENANTS = ['ten_a', 'ten_b'];
const ENDPOINTS = ['ep_1', 'ep_2', 'ep_3'];

type Command =
  | { kind: 'stamp'; publisher: number; tenant: number; endpoint: number; message: number }
  | { kind: 'land'; publisher: number }
  | { kind: 'tail'; hub: number; steps: number }
  | { kind: 'tick'; ms: number }
  | { kind: 'connect'; subscriber: number; hub: number }
  | { kind: 'read'; subscriber: number; count: number }
  | { kind: 'disconnect'; subscriber: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('stamp' as const), publisher: fc.nat(2), tenant: fc.nat(1), endpoint: fc.nat(2), message: fc.nat(3) }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('land' as const), publisher: fc.nat(2) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('tail' as const), hub: fc.nat(1), steps: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 20 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('connect' as const), subscriber: fc.nat(3), hub: fc.nat(1) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('read' as const), subscriber: fc.nat(3), count: fc.integer({ min: 0, max: 20 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), subscriber: fc.nat(3) }) },
);

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

interface SubscriberModel {
  tenantId: string;
  /** Only this endpoint's events, or all of the tenant's. */
  endpointId: string | null;
  subscription: LiveSubscription | null;
  /** Index in the store's full history from which it receives (where it first subscribed). */
  startsAt: number | null;
  received: LiveEvent[];
  expired: boolean;
  /** Items it may still take: reading is paced by the model. */
  credit: number;
  wake: (() => void) | null;
  loop: Promise<void> | null;
}

async function run(commands: Command[], options: { ringSize: number; bufferSize: number; storeCapacity: number }): Promise<void> {
  let clock = 1_000_000;
  /** Every event ever stored, in store order; the capped store holds the last `storeCapacity`. */
  const history: LiveEvent[] = [];
  const held = () => history.slice(Math.max(0, history.length - options.storeCapacity));
  const store: LiveEventStore = {
    async holds(id) {
      await settle();
      return held().some((e) => e._id === id);
    },
    async *readFrom(from, window, tenantId) {
      // A scan in store order that, like a MongoDB cursor, sees what is stored while it runs.
      let index = Math.max(0, history.length - options.storeCapacity);
      while (index < history.length) {
        await settle();
        index = Math.max(index, history.length - options.storeCapacity);
        const event = history[index++];
        if (event && event.publishedAt.getTime() >= from.publishedAt - window && (event._id === from.id || event.tenantId === tenantId)) yield event;
      }
    },
  };
  const hubs = [0, 1].map(
    () =>
      new LiveHub({ store, ringSize: options.ringSize, bufferSize: options.bufferSize, retentionMs: 24 * 3600_000, rereadWindowMs: WINDOW, now: () => clock }),
  );
  const tailAt = [0, 0];
  /** Events stamped by each publisher, not yet stored: they land in order, later. */
  const pending: LiveEvent[][] = [[], [], []];
  /** Which publisher owns a (message, endpoint): one workflow produces its events, one at a time. */
  const owner = new Map<string, number>();
  const sequence = new Map<string, number>();
  let counter = 0;
  const subscribers: SubscriberModel[] = [0, 1, 2, 3].map((i) => ({
    tenantId: TENANTS[i % 2]!,
    endpointId: i < 2 ? null : ENDPOINTS[i % 3]!,
    subscription: null,
    startsAt: null,
    received: [],
    expired: false,
    credit: 0,
    wake: null,
    loop: null,
  }));
  const accepts = (s: SubscriberModel) => (e: LiveEvent) => e.tenantId === s.tenantId && (s.endpointId === null || e.endpointId === s.endpointId);

  function consume(s: SubscriberModel, subscription: LiveSubscription): Promise<void> {
    return (async () => {
      for (;;) {
        while (s.credit <= 0) await new Promise<void>((resolve) => (s.wake = resolve));
        const result: IteratorResult<LiveItem> = await subscription.next();
        if (result.done) return;
        s.credit -= 1;
        if ('error' in result.value) {
          if (result.value.error.code === 'CURSOR_EXPIRED') s.expired = true;
          else if (result.value.error.code !== 'SLOW_CONSUMER') throw result.value.error;
          continue;
        }
        s.received.push(result.value.event);
      }
    })();
  }

  async function connect(s: SubscriberModel, hub: number): Promise<void> {
    if (s.subscription || s.expired) return;
    const last = s.received[s.received.length - 1];
    const after = last ? decodeLiveCursor(encodeLiveCursor(last)) : null;
    if (!after) {
      // Starting now, on this process: from the events its tail has not appended yet.
      s.startsAt = tailAt[hub]!;
      s.received = [];
    }
    try {
      s.subscription = await hubs[hub]!.subscribe({ tenantId: s.tenantId, accept: accepts(s), after });
    } catch (error) {
      if ((error as { code?: string }).code !== 'CURSOR_EXPIRED') throw error;
      s.expired = true;
      return;
    }
    const subscription = s.subscription;
    s.loop = consume(s, subscription).finally(() => {
      if (s.subscription === subscription) s.subscription = null;
    });
  }

  async function disconnect(s: SubscriberModel): Promise<void> {
    const subscription = s.subscription;
    if (!subscription) return;
    s.subscription = null;
    await subscription.return();
    s.credit += 1;
    s.wake?.();
    await s.loop;
    s.credit = 0;
  }

  const land = (publisher: number) => {
    const event = pending[publisher]!.shift();
    if (event) history.push(event);
  };

  for (const c of commands) {
    clock += 1;
    switch (c.kind) {
      case 'stamp': {
        const key = `msg_${c.message}:${ENDPOINTS[c.endpoint]}`;
        const publisher = owner.get(key) ?? c.publisher;
        owner.set(key, publisher);
        const n = (sequence.get(key) ?? 0) + 1;
        sequence.set(key, n);
        const event: LiveDeliveryEvent = {
          _id: `${key}:${n}:${counter++}`,
          type: 'delivery',
          tenantId: TENANTS[c.tenant]!,
          endpointId: ENDPOINTS[c.endpoint]!,
          messageId: `msg_${c.message}`,
          eventType: 'order.created',
          at: new Date(clock),
          publishedAt: new Date(clock),
          status: 'PENDING',
          attempt: null,
        };
        pending[publisher]!.push(event);
        // A publish lands within the re-read window: at most a few commands later.
        if (pending[publisher]!.length > 4) land(publisher);
        break;
      }
      case 'land':
        land(c.publisher);
        break;
      case 'tail': {
        for (let i = 0; i < c.steps && tailAt[c.hub]! < history.length; i++) hubs[c.hub]!.append(history[tailAt[c.hub]!++]!);
        break;
      }
      case 'tick':
        clock += c.ms;
        break;
      case 'connect':
        await connect(subscribers[c.subscriber]!, c.hub);
        break;
      case 'read': {
        const s = subscribers[c.subscriber]!;
        s.credit += c.count;
        s.wake?.();
        break;
      }
      case 'disconnect':
        await disconnect(subscribers[c.subscriber]!);
        break;
    }
    // Neither tail falls far behind: a tail lagging more than the re-read window is outside the design.
    for (const hub of [0, 1]) while (history.length - tailAt[hub]! > 20) hubs[hub]!.append(history[tailAt[hub]!++]!);
    await settle();
  }

  // The end: every publish lands, both tails catch up, every subscriber reads all, and one that was
  // cut off or had disconnected resumes after its last cursor.
  for (const p of [0, 1, 2]) while (pending[p]!.length > 0) land(p);
  for (const hub of [0, 1]) while (tailAt[hub]! < history.length) hubs[hub]!.append(history[tailAt[hub]!++]!);
  for (let round = 0; round < 3; round++) {
    for (const s of subscribers) {
      s.credit = Number.POSITIVE_INFINITY;
      s.wake?.();
    }
    for (let i = 0; i < 50; i++) await settle();
    for (const [i, s] of subscribers.entries()) if (s.startsAt !== null && !s.subscription) await connect(s, (i + round) % 2);
  }
  for (let i = 0; i < 50; i++) await settle();

  for (const [i, s] of subscribers.entries()) {
    if (s.startsAt === null) continue;
    const expected = history
      .slice(s.startsAt)
      .filter(accepts(s))
      .map((e) => e._id);
    const got = s.received.map((e) => e._id);
    const context = `subscriber ${i} (${s.tenantId}, ${s.endpointId ?? 'all'}), from ${s.startsAt}, expired ${s.expired}`;
    if (s.expired) expect({ context, got }).toEqual({ context, got: expected.slice(0, got.length) });
    else expect({ context, got }).toEqual({ context, got: expected });
    await disconnect(s);
  }
}

test('fan-out and resume: each subscriber gets each accepted event once, in store order, across resumes', async () => {
  const seed = Number(process.env.LIVE_MODEL_SEED ?? Date.now() % 2_147_483_647);
  const numRuns = Number(process.env.LIVE_MODEL_RUNS ?? 800);
  process.stdout.write(`live hub model: LIVE_MODEL_SEED=${seed} (${numRuns} runs)\n`);
  await fc.assert(
    fc.asyncProperty(
      fc.array(command, { minLength: 20, maxLength: 200 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 2, max: 40 }),
      fc.integer({ min: 10, max: 200 }),
      (commands, ringSize, bufferSize, storeCapacity) => run(commands, { ringSize, bufferSize, storeCapacity }),
    ),
    { seed, numRuns },
  );
}, 120_000);
