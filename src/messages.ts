import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Collections } from './db/mongo';
import { isDuplicateKeyError } from './db/mongo';
import { attemptId, deliveryId, type AttemptDoc, type DeliveryView, type MessageDoc } from './db/types';
import type { EndpointService } from './endpoints';
import { notFound } from './errors';
import { idempotentMessageId, newId } from './ids';
import { parseSendMessage } from './validation';
import { deliverMessageWorkflowId } from '../workflows/definitions';
import type { DeliverMessageInput } from '../workflows/delivery-types';
import { DELIVERY_STATUS, ENDPOINT_IDS, EVENT_TYPE, TENANT_ID } from '../workflows/search-attributes';

export interface MessageServiceDeps {
  db: Collections;
  endpoints: EndpointService;
  temporal: Client;
  taskQueue: string;
  maxPayloadBytes: number;
  now?: () => Date;
}

export function createMessageService({ db, endpoints, temporal, taskQueue, maxPayloadBytes, now = () => new Date() }: MessageServiceDeps) {
  /** Starts the message's workflow unless it already ran: its id is derived from the message id. */
  async function startDelivery(message: MessageDoc): Promise<void> {
    const input: DeliverMessageInput = {
      tenantId: message.tenantId,
      messageId: message._id,
      eventType: message.eventType,
      endpointIds: message.endpointIds,
    };
    try {
      await temporal.workflow.start('deliverMessage', {
        taskQueue,
        workflowId: message.workflowId,
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: TENANT_ID, value: message.tenantId },
          { key: EVENT_TYPE, value: message.eventType },
          { key: ENDPOINT_IDS, value: message.endpointIds },
          { key: DELIVERY_STATUS, value: 'DELIVERING' },
        ],
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  }

  return {
    /**
     * Stores the message, then starts its workflow. The insert comes first so that an accepted
     * message is never lost; a crash between the two is repaired by repeating the call with the same
     * idempotency key (or by reconciliation), and the derived workflow id makes a second start a no-op.
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
      try {
        await db.messages.insertOne(message);
        await startDelivery(message);
        return message;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
        const first = await db.messages.findOne({ _id: id });
        if (!first) throw error;
        await startDelivery(first);
        return first;
      }
    },

    async get(tenantId: string, id: string): Promise<MessageDoc> {
      const message = await db.messages.findOne({ _id: id });
      if (!message || message.tenantId !== tenantId) throw notFound('message', id);
      return message;
    },

    /** Deliveries by `_id`; one without a stored row has not been attempted yet and is PENDING. */
    async deliveries(message: MessageDoc): Promise<DeliveryView[]> {
      if (message.endpointIds.length === 0) return [];
      const ids = message.endpointIds.map((endpointId) => deliveryId(message._id, endpointId));
      const stored = new Map((await db.deliveries.find({ _id: { $in: ids } }).toArray()).map((d) => [d._id, d]));
      return message.endpointIds.map(
        (endpointId, i) =>
          stored.get(ids[i]!) ?? {
            _id: ids[i]!,
            tenantId: message.tenantId,
            messageId: message._id,
            endpointId,
            status: 'PENDING',
            occurredAt: message.occurredAt,
            workflowId: message.workflowId,
            attemptCount: 0,
            lastAttemptAt: null,
            createdAt: message.createdAt,
            updatedAt: message.createdAt,
          },
      );
    },

    /** Attempts by `_id`: their ids follow from the delivery id and the attempt count. */
    async attempts(delivery: DeliveryView): Promise<AttemptDoc[]> {
      if (delivery.attemptCount === 0) return [];
      const ids = Array.from({ length: delivery.attemptCount }, (_, seq) => attemptId(delivery._id, seq));
      const attempts = await db.attempts.find({ _id: { $in: ids } }).toArray();
      return attempts.sort((a, b) => a.seq - b.seq);
    },
  };
}

export type MessageService = ReturnType<typeof createMessageService>;
