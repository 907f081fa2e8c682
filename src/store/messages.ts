import { MongoBulkWriteError, type Collection } from 'mongodb';
import { DUPLICATE_KEY, deleteByIds, findByIds, isDuplicateKeyError } from '../db/mongo';
import type { MessageDoc } from '../db/types';

/** Every write to the messages collection. A stored message never changes. */
export function createMessageStore(messages: Collection<MessageDoc>) {
  return {
    get: (id: string) => messages.findOne({ _id: id }),
    getMany: (ids: string[]) => findByIds(messages, ids),
    /** Stores a new message; returns the one already stored under its id instead, if any (an idempotency key repeated). */
    async insertOrGet(message: MessageDoc): Promise<{ stored: MessageDoc; inserted: boolean }> {
      try {
        await messages.insertOne(message);
        return { stored: message, inserted: true };
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
        const first = await messages.findOne({ _id: message._id });
        if (!first) throw error;
        return { stored: first, inserted: false };
      }
    },
    /**
     * Stores new messages in one unordered bulk insert; returns the ids already stored (idempotency keys
     * repeated), whose messages were not inserted. Any other failure is thrown.
     */
    async insertManyNew(batch: MessageDoc[]): Promise<string[]> {
      if (batch.length === 0) return [];
      try {
        await messages.insertMany(batch, { ordered: false });
        return [];
      } catch (error) {
        if (!(error instanceof MongoBulkWriteError)) throw error;
        const failures = [error.writeErrors].flat();
        if (failures.some((f) => f.code !== DUPLICATE_KEY)) throw error;
        return failures.map((f) => batch[f.index]!._id);
      }
    },
    /** Retention: the oldest messages created before the cutoff, a range of the `created` index. */
    listExpired: (cutoff: Date, limit: number) =>
      messages
        .find({ createdAt: { $lt: cutoff } }, { projection: { _id: 1, endpointIds: 1 } })
        .sort({ createdAt: 1, _id: 1 })
        .limit(limit)
        .toArray(),
    deleteMany: (ids: string[]) => deleteByIds(messages, ids),
  };
}

export type MessageStore = ReturnType<typeof createMessageStore>;
