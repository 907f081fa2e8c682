/**
 * `npm run bench`, live events: the latency from an attempt being recorded (the publish time its
 * cursor carries; the worker, the API and the bench share this machine's clock) to the event reaching
 * a subscriber over graphql-ws, at a given delivery rate; then the API process's memory and CPU with
 * 1,000 subscriptions open while deliveries run, and the same latency over all of them.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { gql, sleep, type Hookflow } from '../chaos/harness';
import { decodeLiveCursor } from '../src/live/hub';
import { answer, startReceiver } from '../test/helpers/receiver';
import { cpuShares, summary, type Summary } from './stats';

const SUBSCRIPTION = 'subscription ($types: [String!]) { deliveryEvents(eventTypes: $types) { cursor status attempt { statusCode } } }';
const CREATE = 'mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }';
const SEND = 'mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }';

export interface LiveRun {
  subscriptions: number;
  messages: number;
  ratePerSecond: number;
  /** Attempt events (one per message, unless an attempt failed) for every subscriber, and those that arrived. */
  expected: number;
  received: number;
  /** Events a subscription received a second time: must be 0. */
  duplicates: number;
  latency: Summary;
  seconds: number;
  cpu: Record<string, number>;
  apiRssMb: { before: number | null; subscribed: number | null; after: number | null };
}

type Readings = () => Record<string, { cpuSeconds: number } | null>;

/**
 * Opens `count` subscriptions, 100 to a connection, and records each attempt event's latency; an
 * event one subscription receives twice (the same cursor) is counted as a duplicate instead.
 */
async function subscribeMany(hookflow: Hookflow, eventType: string, count: number, onEvent: (latencyMs: number) => void, onDuplicate: () => void) {
  const clients: Client[] = [];
  const stops: (() => void)[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 100 === 0) {
      clients.push(
        createClient({
          url: hookflow.apiUrl.replace(/^http/, 'ws'),
          webSocketImpl: WebSocket,
          connectionParams: { authorization: `Bearer ${hookflow.apiKey}` },
          retryAttempts: 0,
          lazy: false,
          onNonLazyError: () => undefined,
        }),
      );
    }
    const client = clients[clients.length - 1]!;
    const seen = new Set<string>();
    stops.push(
      client.subscribe<{ deliveryEvents: { cursor: string; attempt: unknown } }>(
        { query: SUBSCRIPTION, variables: { types: [eventType] } },
        {
          next: (result) => {
            const event = result.data?.deliveryEvents;
            if (!event?.attempt) return;
            if (seen.has(event.cursor)) return onDuplicate();
            seen.add(event.cursor);
            onEvent(Date.now() - decodeLiveCursor(event.cursor).publishedAt);
          },
          error: (error) => process.stderr.write(`[bench] live subscription error: ${JSON.stringify(error).slice(0, 300)}\n`),
          complete: () => undefined,
        },
      ),
    );
  }
  return {
    async close() {
      for (const stop of stops) stop();
      await Promise.all(clients.map((c) => c.dispose()));
    },
  };
}

export async function measureLive(args: {
  hookflow: Hookflow;
  label: string;
  subscriptions: number;
  messages: number;
  ratePerSecond: number;
  readings: Readings;
  say: (line: string) => void;
}): Promise<LiveRun> {
  const { hookflow, label, subscriptions, messages, ratePerSecond, say } = args;
  const eventType = `bench.live.${label}`;
  const receiver = await startReceiver(answer(202));
  const created = await gql(hookflow, CREATE, { input: { url: receiver.url, eventTypes: [eventType] } });
  if (!created.data?.createEndpoint) throw new Error(`createEndpoint failed: ${JSON.stringify(created.errors)}`);
  const rss = () => hookflow.api.resources()?.currentRssMb ?? null;
  const rssBefore = rss();
  const latencies: number[] = [];
  say(`live ${label}: opening ${subscriptions} subscriptions`);
  let duplicates = 0;
  const subs = await subscribeMany(
    hookflow,
    eventType,
    subscriptions,
    (ms) => latencies.push(ms),
    () => (duplicates += 1),
  );
  // graphql-ws acknowledges no subscribe: give the API time to register them all.
  await sleep(Math.max(2_000, subscriptions * 5));
  const rssSubscribed = rss();
  say(`live ${label}: ${messages} messages at ${ratePerSecond.toFixed(1)}/s`);
  const before = args.readings();
  const started = performance.now();
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < messages; i++) {
    const wait = started + (i * 1000) / ratePerSecond - performance.now();
    if (wait > 0) await sleep(wait);
    calls.push(gql(hookflow, SEND, { input: { eventType, payload: { i } } }));
  }
  await Promise.all(calls);
  const expected = messages * subscriptions;
  const deadline = performance.now() + 120_000;
  while (latencies.length < expected && performance.now() < deadline) await sleep(100);
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuShares(before, args.readings(), seconds);
  const rssAfter = rss();
  await subs.close();
  await receiver.close();
  return {
    subscriptions,
    messages,
    ratePerSecond,
    expected,
    received: latencies.length,
    duplicates,
    latency: summary(latencies),
    seconds,
    cpu,
    apiRssMb: { before: rssBefore, subscribed: rssSubscribed, after: rssAfter },
  };
}
