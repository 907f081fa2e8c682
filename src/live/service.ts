import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { Collections } from '../db/mongo';
import type { EndpointDoc, MessageDoc } from '../db/types';
import { notFound, UserError } from '../errors';
import type { EndpointService } from '../endpoints';
import type { MessageService } from '../messages';
import type { TenantService } from '../tenants';
import { databaseOf, openLiveEvents } from './collection';
import { decodeLiveCursor, LiveHub, type LiveItem, type LiveSubscription } from './hub';
import { mongoLiveStore, startLiveTail } from './tail';
import type { LiveDeliveryEvent, LiveEndpointEvent, LiveEvent } from './types';

export interface LiveConfig {
  /** HOOKFLOW_SUBSCRIPTION_RETENTION: how old a cursor `after` may be. */
  retentionMs: number;
  /** HOOKFLOW_LIVE_EVENTS_MAX_BYTES: the capped collection's size, which bounds what is held. */
  maxBytes: number;
  /** HOOKFLOW_MAX_SUBSCRIPTIONS_PER_KEY */
  maxSubscriptionsPerKey: number;
  /** HOOKFLOW_SUBSCRIPTION_BUFFER: events one subscription may have waiting. */
  bufferSize: number;
  /** How often the keys of open subscriptions are checked for revocation. */
  keyCheckIntervalMs: number;
  /** Recent events kept in memory for resumes (LIVE_DEFAULTS.ringSize); tests make it tiny to resume from MongoDB. */
  ringSize?: number;
}

export const LIVE_DEFAULTS = { ringSize: 10_000, rereadWindowMs: 60_000, keyCheckIntervalMs: 2_000 };

/** Who subscribes: the tenant, and the key, which is checked again while the subscription is open. */
export interface Subscriber {
  tenantId: string;
  apiKey: string;
}

export interface DeliveryEventArgs {
  endpointId?: string | null;
  messageId?: string | null;
  eventTypes?: string[] | null;
  after?: string | null;
}

export interface EndpointEventArgs {
  endpointId?: string | null;
  after?: string | null;
}

/**
 * Live events for the API: one tail per process, its hub, the per-key cap, and the periodic check
 * that closes a revoked key's subscriptions. Messages and endpoints named by events are read through
 * short caches, so 1,000 subscribers of one event cost one read each, not 1,000.
 */
export async function startLiveService(deps: {
  db: Collections;
  tenants: TenantService;
  endpoints: EndpointService;
  messages: MessageService;
  log: Logger;
  config: LiveConfig;
}) {
  const { db, tenants, endpoints, messages, config } = deps;
  const log = deps.log.child({ component: 'live' });
  const collection = await openLiveEvents(databaseOf(db), config.maxBytes);
  const hub = new LiveHub({
    store: mongoLiveStore(collection),
    ringSize: config.ringSize ?? LIVE_DEFAULTS.ringSize,
    bufferSize: config.bufferSize,
    retentionMs: config.retentionMs,
    rereadWindowMs: LIVE_DEFAULTS.rereadWindowMs,
  });
  const tail = startLiveTail({ collection, hub, log, rereadWindowMs: LIVE_DEFAULTS.rereadWindowMs });

  /**
   * Subscriptions by API key, for the cap and for closing them when the key is revoked; `opening`
   * counts those still reading the store, so that concurrent subscribes cannot pass the cap together.
   */
  const byKey = new Map<string, { open: Set<LiveSubscription>; opening: number }>();
  const keyCheck = setInterval(() => void checkKeys(), config.keyCheckIntervalMs);
  keyCheck.unref();
  let checking = false;
  async function checkKeys(): Promise<void> {
    if (checking) return;
    checking = true;
    try {
      for (const [apiKey, { open }] of byKey) {
        // A failed lookup (MongoDB restarting) is not a revocation.
        if ((await tenants.authenticate(apiKey).catch(() => 'unknown')) !== null) continue;
        for (const subscription of open) subscription.close(new UserError('UNAUTHENTICATED', 'the API key of this subscription was revoked'));
      }
    } finally {
      checking = false;
    }
  }

  // Short-lived: an endpoint's status changes, and an event should show it soon after.
  const endpointCache = new LRUCache<string, EndpointDoc>({
    max: 10_000,
    ttl: 1_000,
    fetchMethod: async (id) => (await db.endpoints.findOne({ _id: id })) ?? undefined,
  });
  // A stored message never changes.
  const messageCache = new LRUCache<string, MessageDoc>({
    max: 2_000,
    ttl: 30_000,
    fetchMethod: async (id) => (await db.messages.findOne({ _id: id })) ?? undefined,
  });

  async function subscribe(subscriber: Subscriber, after: string | null | undefined, accept: (event: LiveEvent) => boolean): Promise<AsyncIterable<LiveItem>> {
    const position = after ? decodeLiveCursor(after) : null;
    const entry = byKey.get(subscriber.apiKey) ?? { open: new Set<LiveSubscription>(), opening: 0 };
    const count = entry.open.size + entry.opening;
    if (count >= config.maxSubscriptionsPerKey) {
      throw new UserError(
        'TOO_MANY_SUBSCRIPTIONS',
        `this API key has ${count} open subscriptions, the most allowed (HOOKFLOW_MAX_SUBSCRIPTIONS_PER_KEY); close one first`,
      );
    }
    entry.opening += 1;
    byKey.set(subscriber.apiKey, entry);
    const forgetIfIdle = () => {
      if (entry.open.size === 0 && entry.opening === 0) byKey.delete(subscriber.apiKey);
    };
    try {
      // Disposed before it is returned (a failed resume), it was never counted as open.
      let subscription: LiveSubscription | undefined;
      subscription = await hub.subscribe({
        tenantId: subscriber.tenantId,
        accept,
        after: position,
        onDispose: () => {
          if (subscription) entry.open.delete(subscription);
          forgetIfIdle();
        },
      });
      entry.open.add(subscription);
      return subscription;
    } finally {
      entry.opening -= 1;
      forgetIfIdle();
    }
  }

  return {
    hub,

    async deliveryEvents(subscriber: Subscriber, args: DeliveryEventArgs): Promise<AsyncIterable<LiveItem<LiveDeliveryEvent>>> {
      const { tenantId } = subscriber;
      if (args.endpointId) await endpoints.get(tenantId, args.endpointId);
      if (args.messageId) await messages.get(tenantId, args.messageId);
      const types = args.eventTypes && args.eventTypes.length > 0 ? new Set(args.eventTypes) : null;
      const items = await subscribe(
        subscriber,
        args.after,
        (event) =>
          event.type === 'delivery' &&
          event.tenantId === tenantId &&
          (!args.endpointId || event.endpointId === args.endpointId) &&
          (!args.messageId || event.messageId === args.messageId) &&
          (!types || types.has(event.eventType)),
      );
      // The filter admits delivery events only.
      return items as AsyncIterable<LiveItem<LiveDeliveryEvent>>;
    },

    async endpointEvents(subscriber: Subscriber, args: EndpointEventArgs): Promise<AsyncIterable<LiveItem<LiveEndpointEvent>>> {
      const { tenantId } = subscriber;
      if (args.endpointId) await endpoints.get(tenantId, args.endpointId);
      const items = await subscribe(
        subscriber,
        args.after,
        (event) => event.type === 'endpoint' && event.tenantId === tenantId && (!args.endpointId || event.endpointId === args.endpointId),
      );
      // The filter admits endpoint events only.
      return items as AsyncIterable<LiveItem<LiveEndpointEvent>>;
    },

    /** The message an event names; it is the subscriber's, since events are filtered by tenant. */
    async message(event: LiveDeliveryEvent): Promise<MessageDoc> {
      const message = await messageCache.fetch(event.messageId);
      if (!message || message.tenantId !== event.tenantId) throw notFound('message', event.messageId);
      return message;
    },

    async endpoint(event: LiveDeliveryEvent | LiveEndpointEvent): Promise<EndpointDoc> {
      const endpoint = await endpointCache.fetch(event.endpointId);
      if (!endpoint || endpoint.tenantId !== event.tenantId) throw notFound('endpoint', event.endpointId);
      return endpoint;
    },

    async stop(): Promise<void> {
      clearInterval(keyCheck);
      hub.closeAll(new UserError('UNAVAILABLE', 'the server is shutting down; subscribe again with after set to your last cursor'));
      await tail.stop();
    },
  };
}

export type LiveService = Awaited<ReturnType<typeof startLiveService>>;
