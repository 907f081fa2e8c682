import type { Client } from '@temporalio/client';
import type { Filter } from 'mongodb';
import { newDeliveryRows } from './store/deliveries';
import { createStore } from './store';
import { recordAccepted } from './observability/metrics';
import type { Collections } from './db/mongo';
import { findByIds } from './db/mongo';
import { deliveryId, type AttemptDoc, type DeliveryDoc, type DeliveryView, type EndpointDoc, type MessageDoc } from './db/types';
import type { EndpointService } from './endpoints';
import { notFound, UserError, type ErrorCode } from './errors';
import { idempotentMessageId, newId } from './ids';
import { afterPosition, decodeCursor, pageSize, timeRange, toPage, type Page } from './paging';
import { parseSendMessage } from './validation';
import { startMessageWorkflow, startRedelivery } from './starts';
import { deliverMessageWorkflowId } from '../workflows/definitions';
import type { DeliveryStatus } from '../workflows/delivery-types';

export interface MessageServiceDeps {
  db: Collections;
  endpoints: EndpointService;
  temporal: Client;
  taskQueue: string;
  maxPayloadBytes: number;
  /** How long an idle ordering key keeps its sequence workflow. */
  orderingKeyIdleMs?: number;
  /** Start message workflows eagerly: `temporal` is built on the connection of a worker in this process. */
  eagerStart?: boolean;
  now?: () => Date;
}

export interface MessageFilter {
  eventTypes?: string[] | null;
  endpointId?: string | null;
  status?: DeliveryStatus | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
  occurredAfter?: Date | null;
  occurredBefore?: Date | null;
}

type SendInput = { eventType: string; payload: unknown; idempotencyKey?: string | null; occurredAt?: Date | null; orderingKey?: string | null };
type SendFields = ReturnType<typeof parseSendMessage>;

/** One item of sendMessages' answer: its message, or why it was refused. */
export interface SendManyItem {
  index: number;
  message: MessageDoc | null;
  error: { code: ErrorCode; message: string; field: string | null } | null;
}

/** A sendMessages item refused with a coded error. */
const refused = (index: number, error: UserError): SendManyItem => ({
  index,
  message: null,
  error: { code: error.code, message: error.message, field: error.field ?? null },
});

/** sendMessages takes at most this many messages a call. */
export const MAX_BATCH = 100;
/** Workflow starts one sendMessages call keeps in flight. */
const START_CONCURRENCY = 16;

/** Runs `task` on every item, at most `concurrency` at a time. */
async function forEachConcurrently<T>(items: T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, runner));
}

/** At most this many deliveries are re-enqueued by one recoverEndpoint call. */
export const RECOVERY_LIMIT = 1000;
const UNSUCCESSFUL: DeliveryStatus[] = ['PARKED', 'EXHAUSTED', 'CANCELLED'];
const IN_FLIGHT: DeliveryStatus[] = ['PENDING', 'FAILING'];

export function createMessageService({
  db,
  endpoints,
  temporal,
  taskQueue,
  maxPayloadBytes,
  orderingKeyIdleMs,
  eagerStart,
  now = () => new Date(),
}: MessageServiceDeps) {
  const store = createStore(db, now);

  /** A parsed input as the message it becomes: its id, its time, and the endpoints it is routed to. */
  async function prepare(tenantId: string, fields: SendFields, route: (eventType: string) => Promise<Pick<EndpointDoc, '_id'>[]>): Promise<MessageDoc> {
    const id = fields.idempotencyKey ? idempotentMessageId(tenantId, fields.idempotencyKey) : newId('msg');
    const createdAt = now();
    const targets = await route(fields.eventType);
    return {
      _id: id,
      tenantId,
      eventType: fields.eventType,
      payload: fields.payload,
      occurredAt: fields.occurredAt ?? createdAt,
      createdAt,
      idempotencyKey: fields.idempotencyKey,
      endpointIds: targets.map((e) => e._id),
      workflowId: deliverMessageWorkflowId(id),
      orderingKey: fields.orderingKey,
    };
  }

  /** A message this call stored: its workflow starts. */
  async function started(stored: MessageDoc): Promise<MessageDoc> {
    // A closed run under this id can only belong to an earlier message with the same key, since deleted.
    if (stored.endpointIds.length > 0) await startMessageWorkflow(temporal, taskQueue, stored, { afterClosedRun: true, orderingKeyIdleMs, eagerStart });
    recordAccepted();
    return stored;
  }

  /** The idempotency key was used before: the stored message answers, and its workflow starts only if it never posted. */
  async function repeated(message: MessageDoc, stored: MessageDoc): Promise<MessageDoc> {
    const id = stored._id;
    // This call may have routed to an endpoint created meanwhile: those rows are not the stored message's, and go.
    const stray = message.endpointIds.filter((e) => !stored.endpointIds.includes(e)).map((e) => deliveryId(id, e));
    if (stray.length > 0) await store.deliveries.removeUntouched(stray);
    await store.deliveries.ensureForMessage(stored);
    // Start it only if nothing was ever attempted: a run Temporal has purged since must not post it again.
    const rows = await store.deliveries.getMany(stored.endpointIds.map((e) => deliveryId(id, e)));
    const untouched = rows.every((r) => (r.status === 'PENDING' || r.status === 'WAITING') && r.attemptCount === 0);
    if (rows.length > 0 && untouched) await startMessageWorkflow(temporal, taskQueue, stored, { orderingKeyIdleMs });
    return stored;
  }

  const service = {
    /**
     * Stores the delivery rows, then the message, then starts its workflow. Every stored message thus has
     * its rows, and the message is stored before it is acknowledged, so it is never lost: a crash before
     * the start is repaired by repeating the call with the same idempotency key, or by reconciliation
     * (which also removes the rows of a message that was never stored). Everything that can refuse the
     * input is checked before anything is written.
     */
    async send(tenantId: string, input: SendInput): Promise<MessageDoc> {
      const message = await prepare(tenantId, parseSendMessage(input, maxPayloadBytes), (eventType) => endpoints.matching(tenantId, eventType));
      await store.deliveries.insertForMessage(message);
      const { stored, inserted } = await store.messages.insertOrGet(message);
      if (inserted) {
        await started(stored);
        return stored;
      }
      return repeated(message, stored);
    },

    /**
     * sendMessage for up to MAX_BATCH messages in one call: each is validated and idempotent on its own,
     * and answered with its message or its coded error; the valid ones are stored in bulk (the rows of
     * all, then all the messages, unordered) before their workflows start. A repeated idempotency key,
     * in an earlier call or earlier in this one, answers the message first stored under it.
     */
    async sendMany(tenantId: string, inputs: SendInput[]): Promise<SendManyItem[]> {
      if (inputs.length > MAX_BATCH) {
        throw new UserError('BATCH_TOO_LARGE', `sendMessages takes at most ${MAX_BATCH} messages a call, not ${inputs.length}: split the batch`, 'inputs');
      }
      const routes = new Map<string, Promise<Pick<EndpointDoc, '_id'>[]>>();
      const route = (eventType: string) => {
        if (!routes.has(eventType)) routes.set(eventType, endpoints.matching(tenantId, eventType));
        return routes.get(eventType)!;
      };
      const results: SendManyItem[] = new Array(inputs.length);
      /** The first item of each message id; a later item with the same id answers what the first got. */
      const firsts = new Map<string, { index: number; message: MessageDoc }>();
      const sameAs: [index: number, first: number][] = [];
      for (const [index, input] of inputs.entries()) {
        try {
          const message = await prepare(tenantId, parseSendMessage(input, maxPayloadBytes), route);
          const first = firsts.get(message._id);
          if (first) sameAs.push([index, first.index]);
          else firsts.set(message._id, { index, message });
        } catch (error) {
          if (!(error instanceof UserError)) throw error;
          results[index] = refused(index, error);
        }
      }
      const batch = [...firsts.values()];
      await store.deliveries.insertForMessages(batch.map((b) => b.message));
      const duplicates = new Set(await store.messages.insertManyNew(batch.map((b) => b.message)));
      await forEachConcurrently(batch, START_CONCURRENCY, async ({ index, message }) => {
        try {
          const stored = duplicates.has(message._id) ? await repeated(message, (await store.messages.get(message._id))!) : await started(message);
          results[index] = { index, message: stored, error: null };
        } catch (error) {
          // Stored, so not lost: a repeat of the call with the same key, or maintenance, starts its workflow.
          const why =
            error instanceof UserError
              ? error
              : new UserError(
                  'UNAVAILABLE',
                  `message ${message._id} was stored but its workflow did not start (${(error as Error).message}); maintenance starts it, or repeat the item with the same idempotencyKey`,
                );
          results[index] = refused(index, why);
        }
      });
      for (const [index, first] of sameAs) results[index] = { ...results[first]!, index };
      return results;
    },

    async get(tenantId: string, id: string): Promise<MessageDoc> {
      const message = await db.messages.findOne({ _id: id });
      if (!message || message.tenantId !== tenantId) throw notFound('message', id);
      return message;
    },

    /** Deliveries by `_id`, in the order the message was routed. */
    async deliveries(message: MessageDoc): Promise<DeliveryView[]> {
      if (message.endpointIds.length === 0) return [];
      const rows = new Map(
        (
          await findByIds(
            db.deliveries,
            message.endpointIds.map((e) => deliveryId(message._id, e)),
          )
        ).map((d) => [d.endpointId, d]),
      );
      return message.endpointIds.map((endpointId) => rows.get(endpointId) ?? newDeliveryRows({ ...message, endpointIds: [endpointId] })[0]!);
    },

    /** Attempts by `_id`: their ids follow from the delivery id and the attempt count. */
    async attempts(delivery: DeliveryView): Promise<AttemptDoc[]> {
      return store.attempts.ofDelivery(delivery);
    },

    /**
     * The tenant's messages, newest first. A filter on the endpoint or the delivery status is served by
     * the deliveries collection (which repeats the message's type and times); the rest by messages.
     */
    async list(tenantId: string, filter: MessageFilter, first?: number | null, after?: string | null): Promise<Page<MessageDoc>> {
      const size = pageSize(first);
      const position = decodeCursor(after);
      if (filter.endpointId) await endpoints.getForHistory(tenantId, filter.endpointId);
      const created = timeRange(filter.createdAfter, filter.createdBefore);
      const occurred = timeRange(filter.occurredAfter, filter.occurredBefore);
      const eventTypes = filter.eventTypes?.length ? { $in: filter.eventTypes } : undefined;

      if (filter.endpointId || filter.status) {
        const query: Filter<DeliveryDoc> = {
          tenantId,
          ...(filter.endpointId ? { endpointId: filter.endpointId } : {}),
          ...(filter.status ? { status: filter.status } : {}),
          ...(eventTypes ? { eventType: eventTypes } : {}),
          ...(created ? { messageCreatedAt: created } : {}),
          ...(occurred ? { occurredAt: occurred } : {}),
        };
        const rows = await db.deliveries
          .find({ $and: [query, afterPosition<DeliveryDoc>(position, 'messageCreatedAt', 'messageId')] }, { projection: { messageId: 1, messageCreatedAt: 1 } })
          .sort({ messageCreatedAt: -1, messageId: -1 })
          .limit(size + 1)
          .toArray();
        const page = toPage(rows, size, (row) => ({ at: row.messageCreatedAt, id: row.messageId }));
        // Without an endpoint, one message can match through several deliveries: list it once.
        const ids = [...new Set(page.nodes.map((r) => r.messageId))];
        return {
          ...page,
          nodes: await findByIds(db.messages, ids),
          count: async () => (filter.endpointId ? db.deliveries.countDocuments(query) : null),
        };
      }

      const query: Filter<MessageDoc> = {
        tenantId,
        ...(eventTypes ? { eventType: eventTypes } : {}),
        ...(created ? { createdAt: created } : {}),
        ...(occurred ? { occurredAt: occurred } : {}),
      };
      const rows = await db.messages
        .find({ $and: [query, afterPosition<MessageDoc>(position, 'createdAt', '_id')] })
        .sort({ createdAt: -1, _id: -1 })
        .limit(size + 1)
        .toArray();
      return {
        ...toPage(rows, size, (row) => ({ at: row.createdAt, id: row._id })),
        count: () => db.messages.countDocuments(query),
      };
    },

    /**
     * Delivers a message to one of its endpoints again, even if it succeeded: it is handed to the
     * endpoint's redelivery, which takes it over from a run still retrying it and posts it in event order.
     */
    async resend(tenantId: string, messageId: string, endpointId: string): Promise<DeliveryView> {
      const message = await service.get(tenantId, messageId);
      await endpoints.get(tenantId, endpointId);
      if (!message.endpointIds.includes(endpointId)) {
        throw new UserError('NOT_FOUND', `message ${JSON.stringify(messageId)} was not routed to endpoint ${JSON.stringify(endpointId)}`);
      }
      await store.deliveries.ensureForMessage(message);
      const row = await store.deliveries.get(deliveryId(messageId, endpointId));
      if (row?.status === 'WAITING') {
        throw new UserError(
          'DELIVERY_WAITING',
          `message ${JSON.stringify(messageId)} waits for its turn behind an earlier message of ordering key ${JSON.stringify(message.orderingKey)}; it is delivered in that order, and can be resent once it has been`,
        );
      }
      await startRedelivery(temporal, taskQueue, tenantId, endpointId, [messageId]);
      return (await store.deliveries.get(deliveryId(messageId, endpointId)))!;
    },

    /**
     * Hands every message of the window whose delivery to the endpoint did not succeed (PARKED,
     * EXHAUSTED or CANCELLED), at most RECOVERY_LIMIT of them, to the endpoint's redelivery, which posts
     * them oldest event first. Deliveries still being retried are left to their own run.
     */
    async recover(tenantId: string, endpointId: string, since: Date, until: Date | null | undefined) {
      await endpoints.get(tenantId, endpointId);
      const window = timeRange(since, until ?? now())!;
      const rows = await db.deliveries
        .find({ endpointId, status: { $in: UNSUCCESSFUL }, messageCreatedAt: window }, { projection: { messageId: 1, occurredAt: 1 } })
        .sort({ occurredAt: 1, _id: 1 })
        .limit(RECOVERY_LIMIT + 1)
        .toArray();
      const chosen = rows.slice(0, RECOVERY_LIMIT).map((r) => r.messageId);
      const inFlight = await db.deliveries.countDocuments({ endpointId, status: { $in: IN_FLIGHT }, messageCreatedAt: window });
      const workflowId = chosen.length > 0 ? await startRedelivery(temporal, taskQueue, tenantId, endpointId, chosen) : null;
      return { enqueued: chosen.length, inFlight, truncated: rows.length > RECOVERY_LIMIT, workflowId };
    },
  };
  return service;
}

export type MessageService = ReturnType<typeof createMessageService>;
