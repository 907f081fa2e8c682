import type { Client } from '@temporalio/client';
import type { Filter } from 'mongodb';
import { ensureDeliveryRows, newDeliveryRows } from './db/deliveries';
import type { Collections } from './db/mongo';
import { findByIds, isDuplicateKeyError } from './db/mongo';
import { attemptId, deliveryId, type AttemptDoc, type DeliveryDoc, type DeliveryView, type MessageDoc } from './db/types';
import type { EndpointService } from './endpoints';
import { notFound, UserError } from './errors';
import { idempotentMessageId, newId } from './ids';
import { afterPosition, decodeCursor, pageSize, timeRange, toPage, type Page } from './paging';
import { parseSendMessage } from './validation';
import { startMessageWorkflow } from './starts';
import { recordAccepted } from './observability/metrics';
import { deliverMessageWorkflowId, redeliverMessagesWorkflowId } from '../workflows/definitions';
import type { DeliveryStatus } from '../workflows/delivery-types';
import { DELIVERY_STATUS, ENDPOINT_IDS, TENANT_ID } from '../workflows/search-attributes';

export interface MessageServiceDeps {
  db: Collections;
  endpoints: EndpointService;
  temporal: Client;
  taskQueue: string;
  maxPayloadBytes: number;
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

/** At most this many deliveries are re-enqueued by one recoverEndpoint call. */
export const RECOVERY_LIMIT = 1000;
const UNSUCCESSFUL: DeliveryStatus[] = ['PARKED', 'EXHAUSTED', 'CANCELLED'];
const IN_FLIGHT: DeliveryStatus[] = ['PENDING', 'FAILING'];

function unlessDuplicate(error: unknown): void {
  if (!isDuplicateKeyError(error)) throw error;
}

export function createMessageService({ db, endpoints, temporal, taskQueue, maxPayloadBytes, now = () => new Date() }: MessageServiceDeps) {
  const startDelivery = async (message: MessageDoc) => void (await startMessageWorkflow(temporal, taskQueue, message));

  /** Delivers the messages again to one endpoint, in event order, as a new workflow run. */
  async function startRedelivery(tenantId: string, endpointId: string, messageIds: string[], reason: string): Promise<string> {
    const workflowId = redeliverMessagesWorkflowId(endpointId, newId('msg').slice(4));
    const update = { $set: { status: 'PENDING' as const, workflowId, updatedAt: now() } };
    await db.deliveries.bulkWrite(messageIds.map((m) => ({ updateOne: { filter: { _id: deliveryId(m, endpointId) }, update } })), { ordered: false });
    await temporal.workflow.start('redeliverMessages', {
      taskQueue,
      workflowId,
      args: [{ tenantId, endpointId, messageIds, reason }],
      typedSearchAttributes: [
        { key: TENANT_ID, value: tenantId },
        { key: ENDPOINT_IDS, value: [endpointId] },
        { key: DELIVERY_STATUS, value: 'DELIVERING' },
      ],
    });
    return workflowId;
  }

  const service = {
    /**
     * Stores the delivery rows, then the message, then starts its workflow. Every stored message thus has
     * its rows, and the message is stored before it is acknowledged, so it is never lost: a crash before
     * the start is repaired by repeating the call with the same idempotency key, or by reconciliation
     * (which also removes the rows of a message that was never stored). The workflow id is derived from
     * the message id, so a second start is a no-op.
     */
    async send(
      tenantId: string,
      input: { eventType: string; payload: unknown; idempotencyKey?: string | null; occurredAt?: Date | null },
    ): Promise<MessageDoc> {
      const fields = parseSendMessage(input, maxPayloadBytes);
      const id = fields.idempotencyKey ? idempotentMessageId(tenantId, fields.idempotencyKey) : newId('msg');
      const createdAt = now();
      const targets = await endpoints.matching(tenantId, fields.eventType);
      const message: MessageDoc = {
        _id: id,
        tenantId,
        eventType: fields.eventType,
        payload: fields.payload,
        occurredAt: fields.occurredAt ?? createdAt,
        createdAt,
        idempotencyKey: fields.idempotencyKey,
        endpointIds: targets.map((e) => e._id),
        workflowId: deliverMessageWorkflowId(id),
      };
      const rows = newDeliveryRows(message);
      // With an idempotency key, a concurrent call may have stored the same rows: that is no error.
      if (rows.length > 0) await db.deliveries.insertMany(rows, { ordered: false }).catch(unlessDuplicate);
      try {
        await db.messages.insertOne(message);
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
        const first = await db.messages.findOne({ _id: id });
        if (!first) throw error;
        await ensureDeliveryRows(db, first);
        await startDelivery(first);
        return first;
      }
      await startDelivery(message);
      recordAccepted();
      return message;
    },

    async get(tenantId: string, id: string): Promise<MessageDoc> {
      const message = await db.messages.findOne({ _id: id });
      if (!message || message.tenantId !== tenantId) throw notFound('message', id);
      return message;
    },

    /** Deliveries by `_id`, in the order the message was routed. */
    async deliveries(message: MessageDoc): Promise<DeliveryView[]> {
      if (message.endpointIds.length === 0) return [];
      const rows = new Map((await findByIds(db.deliveries, message.endpointIds.map((e) => deliveryId(message._id, e)))).map((d) => [d.endpointId, d]));
      return message.endpointIds.map((endpointId) => rows.get(endpointId) ?? newDeliveryRows({ ...message, endpointIds: [endpointId] })[0]!);
    },

    /** Attempts by `_id`: their ids follow from the delivery id and the attempt count. */
    async attempts(delivery: DeliveryView): Promise<AttemptDoc[]> {
      if (delivery.attemptCount === 0) return [];
      const ids = Array.from({ length: delivery.attemptCount }, (_, seq) => attemptId(delivery._id, seq));
      return findByIds(db.attempts, ids);
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

    /** Delivers a message to one of its endpoints again, as a new workflow run, even if it succeeded. */
    async resend(tenantId: string, messageId: string, endpointId: string): Promise<DeliveryView> {
      const message = await service.get(tenantId, messageId);
      await endpoints.get(tenantId, endpointId);
      if (!message.endpointIds.includes(endpointId)) {
        throw new UserError('NOT_FOUND', `message ${JSON.stringify(messageId)} was not routed to endpoint ${JSON.stringify(endpointId)}`);
      }
      await ensureDeliveryRows(db, message);
      await startRedelivery(tenantId, endpointId, [messageId], 'resendMessage');
      return (await db.deliveries.findOne({ _id: deliveryId(messageId, endpointId) }))!;
    },

    /**
     * Re-enqueues every message of the window whose delivery to the endpoint did not succeed (PARKED,
     * EXHAUSTED or CANCELLED), oldest event first, at most RECOVERY_LIMIT of them. Deliveries still being
     * retried are left to their own workflow.
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
      const workflowId = chosen.length > 0 ? await startRedelivery(tenantId, endpointId, chosen, 'recoverEndpoint') : null;
      return { enqueued: chosen.length, inFlight, truncated: rows.length > RECOVERY_LIMIT, workflowId };
    },
  };
  return service;
}

export type MessageService = ReturnType<typeof createMessageService>;
