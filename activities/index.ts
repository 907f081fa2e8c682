import { Context } from '@temporalio/activity';
import { LRUCache } from 'lru-cache';
import type { Client } from '@temporalio/client';
import type { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Collections } from '../src/db/mongo';
import { findByIds, isDuplicateKeyError } from '../src/db/mongo';
import { attemptId, deliveryId, type MessageDoc } from '../src/db/types';
import type { Channel, Notifier } from '../src/notify/channels';
import { notifies, renderNotification } from '../src/notify/render';
import { buildWebhookRequest } from '../src/webhooks/signing';
import { postWebhook, type PostResult } from '../src/webhooks/http-post';
import { blockedTarget, type UrlPolicy } from '../src/webhooks/url-guard';
import type { SecretBox } from '../src/secret-box';
import { deliveryStatusAfterAttempt } from '../workflows/delivery-status';
import { createMaintenanceActivities } from './maintenance';
import { publishLiveEvents, attemptEvent, messageDeliveryStatusEvent, lifecycleEvents } from '../src/live';
import type { AttemptDeliveryInput, AttemptOutcome, DeliveryStatus, EndpointStatus, ParkedDelivery } from '../workflows/delivery-types';
import { endpointWorkflowId, lifecycleSignal } from '../workflows/definitions';
import type { LifecycleInput, RaisedEvent } from '../workflows/endpoint-lifecycle';

export interface ActivityDeps {
  db: Collections;
  secretBox: SecretBox;
  urlPolicy: UrlPolicy;
  /** Requests this worker keeps in flight to one endpoint at most, so a slow receiver holds few slots. */
  maxInFlightPerEndpoint: number;
  http: { agent: Agent; timeoutMs: number; bodyLimit: number };
  notifier: Notifier;
  temporal: Client;
  taskQueue: string;
  log: Logger;
  now?: () => Date;
}

/** Activities are built once per worker over clients it owns; workflows type them from this factory. */
export function createActivities(deps: ActivityDeps) {
  const { db, temporal, taskQueue, log, now = () => new Date() } = deps;
  return {
    ...createDeliveryActivities({ ...deps, now }),
    ...createMaintenanceActivities({ db, temporal, taskQueue, log, now }),
  };
}

/** How long a worker keeps a message it delivers, and how many payload bytes it keeps at most. */
const MESSAGE_CACHE = { ttlMs: 30_000, maxBytes: 64 * 1024 * 1024 };

function createDeliveryActivities(deps: ActivityDeps & { now: () => Date }) {
  const { db, http, notifier, temporal, taskQueue, log, now, secretBox, urlPolicy, maxInFlightPerEndpoint } = deps;
  const inFlight = new Map<string, number>();
  /**
   * A stored message never changes, so the attempts of a message fanned out to many endpoints read it
   * once, not once each; concurrent reads of one message share one query. A message deleted by
   * retention (after a week) can still be posted for at most ttlMs after its deletion.
   */
  const messages = new LRUCache<string, MessageDoc>({
    ttl: MESSAGE_CACHE.ttlMs,
    maxSize: MESSAGE_CACHE.maxBytes,
    sizeCalculation: (message) => Math.max(1, JSON.stringify(message.payload)?.length ?? 1),
    fetchMethod: async (id) => (await db.messages.findOne({ _id: id })) ?? undefined,
  });
  /** Sets a delivery's status, creating its row if no attempt wrote one yet. */
  async function setDeliveryStatus(
    message: MessageDoc,
    endpointId: string,
    status: DeliveryStatus,
    workflowId: string,
  ): Promise<void> {
    await db.deliveries.updateOne(
      { _id: deliveryId(message._id, endpointId) },
      {
        $set: { status, workflowId, updatedAt: now() },
        $setOnInsert: {
          tenantId: message.tenantId,
          messageId: message._id,
          endpointId,
          eventType: message.eventType,
          messageCreatedAt: message.createdAt,
          occurredAt: message.occurredAt,
          attemptCount: 0,
          lastAttemptAt: null,
          createdAt: now(),
        },
      },
      { upsert: true },
    );
    await publishLiveEvents(db, [messageDeliveryStatusEvent(message, endpointId, status, workflowId, now())]);
  }

  /** One attempt, recorded; see attemptDelivery. */
  async function attempt(input: AttemptDeliveryInput): Promise<AttemptOutcome> {
    const [endpoint, message] = await Promise.all([
      db.endpoints.findOne({ _id: input.endpointId }),
      messages.fetch(input.messageId),
    ]);
    if (!message) {
      // Deleted by retention: a parked delivery of it must not wait for ever.
      await db.deliveries.updateOne({ _id: deliveryId(input.messageId, input.endpointId) }, { $set: { status: 'CANCELLED', updatedAt: now() } });
      return { kind: 'gone', why: 'message deleted' };
    }
    if (!endpoint || endpoint.deletedAt) {
      await setDeliveryStatus(message, input.endpointId, 'CANCELLED', input.workflowId);
      return { kind: 'gone', why: 'endpoint deleted' };
    }
    if (endpoint.status === 'DISABLED') {
      await setDeliveryStatus(message, endpoint._id, 'PARKED', input.workflowId);
      return { kind: 'parked' };
    }
    const busy = inFlight.get(endpoint._id) ?? 0;
    if (busy >= maxInFlightPerEndpoint) return { kind: 'throttled' };

    const startedAt = now();
    const secrets = endpoint.secrets.filter((s) => s.expiresAt === null || s.expiresAt > startedAt).map((s) => secretBox.open(s.sealed));
    const webhook = buildWebhookRequest({
      secrets,
      messageId: message._id,
      eventType: message.eventType,
      occurredAt: message.occurredAt,
      payload: message.payload,
      now: startedAt,
    });
    const started = performance.now();
    inFlight.set(endpoint._id, busy + 1);
    let result: PostResult;
    try {
      const blocked = blockedTarget(endpoint.url, urlPolicy);
      result = blocked
        ? { ok: false, reason: 'blocked', error: `blocked by the SSRF guard: ${blocked}`, statusCode: null, body: null }
        : await postWebhook(http.agent, endpoint.url, webhook.headers, webhook.body, http);
    } finally {
      const left = (inFlight.get(endpoint._id) ?? 1) - 1;
      if (left === 0) inFlight.delete(endpoint._id);
      else inFlight.set(endpoint._id, left);
    }
    const durationMs = Math.round(performance.now() - started);

    const id = deliveryId(message._id, endpoint._id);
    const status = deliveryStatusAfterAttempt(endpoint.retryPolicy, input.number, result.ok, result.statusCode);
    await db.attempts.replaceOne(
      { _id: attemptId(id, input.seq) },
      {
        tenantId: message.tenantId,
        messageId: message._id,
        endpointId: endpoint._id,
        deliveryId: id,
        seq: input.seq,
        number: input.number,
        workflowId: input.workflowId,
        startedAt,
        durationMs,
        statusCode: result.statusCode,
        responseBody: result.body,
        error: result.ok ? null : result.error,
        succeeded: result.ok,
      },
      { upsert: true },
    );
    await db.deliveries.updateOne(
      { _id: id },
      {
        $set: { status, attemptCount: input.seq + 1, lastAttemptAt: startedAt, updatedAt: now(), workflowId: input.workflowId },
        $setOnInsert: {
          tenantId: message.tenantId,
          messageId: message._id,
          endpointId: endpoint._id,
          eventType: message.eventType,
          messageCreatedAt: message.createdAt,
          occurredAt: message.occurredAt,
          createdAt: startedAt,
        },
      },
      { upsert: true },
    );
    await publishLiveEvents(db, [attemptEvent({ message, endpointId: endpoint._id, input, startedAt, durationMs, result, status })]);
    log.debug({ messageId: message._id, endpointId: endpoint._id, attempt: input.number, ok: result.ok, durationMs }, 'attempt recorded');

    if (result.ok) return { kind: 'acknowledged', statusCode: result.statusCode };
    return {
      kind: 'failed',
      reason: result.reason,
      statusCode: result.statusCode,
      error: result.error,
      retryPolicy: endpoint.retryPolicy,
      ...(result.retryAfterMs === undefined ? {} : { retryAfterMs: result.retryAfterMs }),
    };
  }

  return {
    /**
     * Posts one signed attempt of a message to an endpoint and records it; posts nothing to a disabled
     * endpoint and parks the delivery instead. Safe to repeat: the attempt and the delivery are written
     * under ids derived from the message, the endpoint and the attempt's sequence number.
     */
    async attemptDelivery(input: AttemptDeliveryInput): Promise<AttemptOutcome> {
      // A local activity (the first try) cannot heartbeat: its workflow task's timeout covers it.
      const context = Context.current();
      const beat = context.info.isLocal ? undefined : setInterval(() => context.heartbeat(), 1000);
      try {
        return await attempt(input);
      } finally {
        clearInterval(beat);
      }
    },

    /** Tells the endpoint's lifecycle workflow, starting it if it is not running (signal-with-start). */
    async signalEndpointLifecycle(args: { tenantId: string; endpointId: string; input: LifecycleInput }): Promise<void> {
      await temporal.workflow.signalWithStart('endpointLifecycle', {
        workflowId: endpointWorkflowId(args.endpointId),
        taskQueue,
        args: [{ endpointId: args.endpointId, tenantId: args.tenantId }],
        signal: lifecycleSignal,
        signalArgs: [args.input],
      });
    },

    /** Records the endpoint's status and the events it raised; both writes are idempotent. */
    async saveLifecycle(args: {
      endpointId: string;
      tenantId: string;
      status: EndpointStatus;
      failingSince: number | null;
      disabledAt: number | null;
      events: RaisedEvent[];
    }): Promise<void> {
      for (const event of args.events) {
        await db.endpointEvents.replaceOne(
          { _id: event.id },
          {
            endpointId: args.endpointId,
            tenantId: args.tenantId,
            kind: event.kind,
            at: new Date(event.at),
            reason: event.reason,
            messageId: event.messageId,
            attempts: event.attempts,
            error: event.error,
          },
          { upsert: true },
        );
      }
      const toDate = (ms: number | null) => (ms === null ? null : new Date(ms));
      await db.endpoints.updateOne(
        { _id: args.endpointId },
        { $set: { status: args.status, failingSince: toDate(args.failingSince), disabledAt: toDate(args.disabledAt), updatedAt: now() } },
      );
      await publishLiveEvents(db, lifecycleEvents(args));
    },

    /**
     * Sends one lifecycle event through one channel to each of the endpoint's contacts. Each send is
     * recorded under an id made of the event, the channel and the recipient, so a retried activity
     * does not send it again. An unconfigured channel is skipped.
     */
    async notify(args: { endpointId: string; event: RaisedEvent; channel: Channel }): Promise<{ sent: number }> {
      const { event, channel } = args;
      if (!notifies(event.kind)) return { sent: 0 };
      const endpoint = await db.endpoints.findOne({ _id: args.endpointId });
      if (!endpoint) return { sent: 0 };
      const notification = renderNotification({ ...event, kind: event.kind }, { id: endpoint._id, url: endpoint.url });

      const sends: { recipient: string; send: () => Promise<void> }[] = [];
      if (channel === 'email' && notifier.email && endpoint.notifyEmails.length > 0) {
        const send = notifier.email;
        sends.push({
          recipient: endpoint.notifyEmails.join(','),
          send: () => send(endpoint.notifyEmails, notification.subject, notification.text, `<${event.id.replace(':', '.')}@hookflow>`),
        });
      }
      if (channel === 'sms' && notifier.sms) {
        const send = notifier.sms;
        for (const phone of endpoint.notifyPhones) sends.push({ recipient: phone, send: () => send(phone, notification.sms) });
      }
      if (channel === 'ops' && notifier.ops) {
        const send = notifier.ops;
        sends.push({ recipient: 'ops', send: () => send(event.id, notification.opsEventType, notification.opsPayload) });
      }

      let sent = 0;
      for (const { recipient, send } of sends) {
        const _id = `${event.id}:${channel}:${recipient}`;
        if (await db.notifications.findOne({ _id })) continue;
        await send();
        try {
          await db.notifications.insertOne({ _id, sentAt: now() });
        } catch (error) {
          if (!isDuplicateKeyError(error)) throw error;
        }
        sent += 1;
      }
      return { sent };
    },

    /** The endpoint's parked deliveries, oldest event first. */
    async listParkedDeliveries(args: { endpointId: string; limit: number }): Promise<ParkedDelivery[]> {
      const rows = await db.deliveries
        .find({ endpointId: args.endpointId, status: 'PARKED' }, { projection: { messageId: 1, attemptCount: 1, occurredAt: 1 } })
        .sort({ occurredAt: 1, _id: 1 })
        .limit(args.limit)
        .toArray();
      return rows.map((row) => ({ messageId: row.messageId, attemptCount: row.attemptCount }));
    },

    /** The given deliveries of one endpoint, in the order their events happened. */
    async loadDeliveries(args: { endpointId: string; messageIds: string[] }): Promise<ParkedDelivery[]> {
      const rows = await findByIds(db.deliveries, args.messageIds.map((m) => deliveryId(m, args.endpointId)));
      return rows
        .sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || a._id.localeCompare(b._id))
        .map((row) => ({ messageId: row.messageId, attemptCount: row.attemptCount }));
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
