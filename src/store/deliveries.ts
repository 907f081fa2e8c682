import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import { deleteByIds, findByIds, isDuplicateKeyError } from '../db/mongo';
import { deliveryId, type DeliveryDoc, type MessageDoc } from '../db/types';
import type { DeliveryStatus } from '../../workflows/delivery-types';

/** Statuses from which a delivery may be attempted by the run that owns it (WAITING: its key's turn came). */
const ATTEMPTABLE: DeliveryStatus[] = ['WAITING', 'PENDING', 'FAILING'];
/** Statuses recoverEndpoint and resendMessage may hand back to an endpoint's redelivery. */
export const REDELIVERABLE: DeliveryStatus[] = ['PENDING', 'FAILING', 'SUCCEEDED', 'PARKED', 'EXHAUSTED', 'CANCELLED'];
/** Deliveries not finished: waiting for their key's turn, retried by their run, or parked until the endpoint is reactivated. */
export const OPEN: DeliveryStatus[] = ['WAITING', 'PENDING', 'FAILING', 'PARKED'];

/**
 * The delivery rows of a message, as created with it: owned by the message's workflow, no attempt yet,
 * PENDING, or WAITING for their turn when the message has an ordering key.
 */
export function newDeliveryRows(message: MessageDoc): DeliveryDoc[] {
  return message.endpointIds.map((endpointId) => ({
    _id: deliveryId(message._id, endpointId),
    tenantId: message.tenantId,
    messageId: message._id,
    endpointId,
    status: message.orderingKey ? 'WAITING' : 'PENDING',
    eventType: message.eventType,
    messageCreatedAt: message.createdAt,
    occurredAt: message.occurredAt,
    workflowId: message.workflowId,
    attemptCount: 0,
    lastAttemptAt: null,
    createdAt: message.createdAt,
    updatedAt: message.createdAt,
    orderingKey: message.orderingKey ?? null,
  }));
}

/** Why a run may not attempt a delivery now. */
export type AttemptRefusal = { why: 'superseded'; owner: string } | { why: 'finished'; status: DeliveryStatus } | { why: 'missing' };

/**
 * Every write to the deliveries collection. A row is owned by one workflow run at a time (its
 * `workflowId`): only the owner attempts it and sets its status, so a resend or a redelivery that
 * takes a row over fences the run that had it. Attempt numbers are allocated by an atomic `$inc`,
 * so two runs can never record the same attempt.
 */
export function createDeliveryStore(deliveries: Collection<DeliveryDoc>, now: () => Date) {
  const store = {
    newRows: newDeliveryRows,

    /** Inserts the rows of a new message; rows a concurrent call with the same idempotency key stored are no error. */
    insertForMessage: (message: MessageDoc): Promise<void> => store.insertForMessages([message]),

    /** The rows of many new messages, in one unordered bulk insert. */
    async insertForMessages(messages: MessageDoc[]): Promise<void> {
      const rows = messages.flatMap(newDeliveryRows);
      if (rows.length === 0) return;
      await deliveries.insertMany(rows, { ordered: false }).catch((error) => {
        if (!isDuplicateKeyError(error)) throw error;
      });
    },

    /** Creates the rows that do not exist yet, and leaves existing ones alone: safe to repeat. */
    async ensureForMessage(message: MessageDoc): Promise<void> {
      const rows = newDeliveryRows(message);
      if (rows.length === 0) return;
      const operations: AnyBulkWriteOperation<DeliveryDoc>[] = rows.map(({ _id, ...row }) => ({
        updateOne: { filter: { _id }, update: { $setOnInsert: row }, upsert: true },
      }));
      await deliveries.bulkWrite(operations, { ordered: false });
    },

    /** Removes never-attempted rows of the given ids: a call that lost an idempotency race routed to endpoints the stored message does not. */
    async removeUntouched(ids: string[]): Promise<number> {
      let removed = 0;
      for (const _id of ids) removed += (await deliveries.deleteOne({ _id, status: { $in: ['PENDING', 'WAITING'] }, attemptCount: 0 })).deletedCount;
      return removed;
    },

    get: (id: string) => deliveries.findOne({ _id: id }),
    getMany: (ids: string[]) => findByIds(deliveries, ids),
    deleteMany: (ids: string[]) => deleteByIds(deliveries, ids),

    /**
     * Allocates the next attempt number for `owner`, or says why it may not attempt. With `claimParked`,
     * a PARKED row is taken over in the same write (an endpoint's redelivery claiming its next row).
     */
    async startAttempt(id: string, owner: string, claimParked: boolean): Promise<{ seq: number } | AttemptRefusal> {
      const at = now();
      const ownedAndOpen = { workflowId: owner, status: { $in: ATTEMPTABLE } };
      const before = await deliveries.findOneAndUpdate(
        claimParked ? { _id: id, $or: [ownedAndOpen, { status: 'PARKED' as const }] } : { _id: id, ...ownedAndOpen },
        { $inc: { attemptCount: 1 }, $set: { status: 'PENDING', workflowId: owner, lastAttemptAt: at, updatedAt: at } },
        { returnDocument: 'before' },
      );
      if (before) return { seq: before.attemptCount };
      return store.whyNotAttemptable(id, owner);
    },

    async whyNotAttemptable(id: string, owner: string): Promise<AttemptRefusal> {
      const row = await deliveries.findOne({ _id: id });
      if (!row) return { why: 'missing' };
      if (row.workflowId !== owner) return { why: 'superseded', owner: row.workflowId };
      return { why: 'finished', status: row.status };
    },

    /** Sets the status a run decided, unless another run took the row over or it ended meanwhile (deleted endpoint). */
    async setOwnedStatus(id: string, owner: string, status: DeliveryStatus): Promise<boolean> {
      const result = await deliveries.updateOne({ _id: id, workflowId: owner, status: { $in: OPEN } }, { $set: { status, updatedAt: now() } });
      return result.matchedCount > 0;
    },

    /** The endpoint or the message is gone: nothing is left to deliver. Says whether this call cancelled it. */
    async cancel(id: string): Promise<boolean> {
      return (await deliveries.updateOne({ _id: id, status: { $in: OPEN } }, { $set: { status: 'CANCELLED', updatedAt: now() } })).modifiedCount > 0;
    },

    /** deleteEndpoint: every open delivery becomes CANCELLED; returns them as they were. */
    async cancelOpenOfEndpoint(endpointId: string) {
      const open = await deliveries
        .find({ endpointId, status: { $in: OPEN } }, { projection: { workflowId: 1, status: 1, messageId: 1, eventType: 1 } })
        .toArray();
      await deliveries.updateMany({ endpointId, status: { $in: OPEN } }, { $set: { status: 'CANCELLED', updatedAt: now() } });
      return open;
    },

    /**
     * Hands rows to an endpoint's redelivery (`owner`): they become PARKED under it, whatever run had
     * them, so that a run still retrying one stops at its next attempt. Returns how many were handed.
     */
    async handToRedelivery(ids: string[], owner: string): Promise<number> {
      let handed = 0;
      for (const _id of ids) {
        const row = await deliveries.findOne({ _id }, { projection: { orderingKey: 1 } });
        const outside = row?.orderingKey ? { outsideSequence: true } : {};
        const result = await deliveries.updateOne(
          { _id, status: { $in: REDELIVERABLE } },
          { $set: { status: 'PARKED', workflowId: owner, updatedAt: now(), ...outside } },
        );
        handed += result.matchedCount;
      }
      return handed;
    },

    /** An endpoint's parked deliveries, oldest event first. */
    listParked(endpointId: string, limit: number) {
      return deliveries
        .find({ endpointId, status: 'PARKED' }, { projection: { messageId: 1, occurredAt: 1, workflowId: 1, orderingKey: 1 } })
        .sort({ occurredAt: 1, _id: 1 })
        .limit(limit)
        .toArray();
    },

    /**
     * A resumed endpoint workflow's failing deliveries: the rows in `FAILING`, and those in flight
     * (`PENDING`, set as an attempt starts) on an attempt past `retriesUntilFailure`.
     */
    async listFailing(endpointId: string, retriesUntilFailure: number, limit: number): Promise<DeliveryDoc[]> {
      const projection = { messageId: 1, attemptCount: 1, lastAttemptAt: 1, updatedAt: 1 };
      const [failing, inFlight] = await Promise.all([
        deliveries.find({ endpointId, status: 'FAILING' }, { projection }).limit(limit).toArray(),
        deliveries
          .find({ endpointId, status: 'PENDING', attemptCount: { $gt: retriesUntilFailure + 1 } }, { projection })
          .limit(limit)
          .toArray(),
      ]);
      return [...failing, ...inFlight].slice(0, limit);
    },

    hasParked: async (endpointId: string) => (await deliveries.findOne({ endpointId, status: 'PARKED' }, { projection: { _id: 1 } })) !== null,

    /** Reconciliation: a status corrected from what Temporal says, unless the row changed since it was read. */
    async correctStatus(row: DeliveryDoc, status: DeliveryStatus): Promise<boolean> {
      const result = await deliveries.updateOne(
        { _id: row._id, status: row.status, workflowId: row.workflowId, attemptCount: row.attemptCount },
        { $set: { status, updatedAt: now() } },
      );
      return result.modifiedCount > 0;
    },

    /** Reconciliation: open rows not touched since `before`. */
    listStale(statuses: DeliveryStatus[], before: Date, limit: number) {
      return deliveries
        .find({ status: { $in: statuses }, updatedAt: { $lt: before } })
        .limit(limit)
        .toArray();
    },

    /** Reconciliation: rows of a message that was never stored. */
    async removeOrphansOfMessage(messageId: string): Promise<number> {
      return (await deliveries.deleteMany({ messageId, status: 'PENDING', attemptCount: 0 })).deletedCount;
    },
  };
  return store;
}

export type DeliveryStore = ReturnType<typeof createDeliveryStore>;
