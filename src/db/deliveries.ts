import type { AnyBulkWriteOperation } from 'mongodb';
import type { Collections } from './mongo';
import { deliveryId, type DeliveryDoc, type MessageDoc } from './types';

/** The delivery rows of a message, as created with it: PENDING, no attempt yet. */
export function newDeliveryRows(message: MessageDoc): DeliveryDoc[] {
  return message.endpointIds.map((endpointId) => ({
    _id: deliveryId(message._id, endpointId),
    tenantId: message.tenantId,
    messageId: message._id,
    endpointId,
    status: 'PENDING',
    eventType: message.eventType,
    messageCreatedAt: message.createdAt,
    occurredAt: message.occurredAt,
    workflowId: message.workflowId,
    attemptCount: 0,
    lastAttemptAt: null,
    createdAt: message.createdAt,
    updatedAt: message.createdAt,
  }));
}

/** Creates the rows that do not exist yet, and leaves existing ones alone: safe to repeat. */
export async function ensureDeliveryRows(db: Collections, message: MessageDoc): Promise<void> {
  const rows = newDeliveryRows(message);
  if (rows.length === 0) return;
  const operations: AnyBulkWriteOperation<DeliveryDoc>[] = rows.map(({ _id, ...row }) => ({
    updateOne: { filter: { _id }, update: { $setOnInsert: row }, upsert: true },
  }));
  await db.deliveries.bulkWrite(operations, { ordered: false });
}
