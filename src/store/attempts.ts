import type { Collection } from 'mongodb';
import { deleteByIds, findByIds, isDuplicateKeyError } from '../db/mongo';
import { attemptId, type AttemptDoc, type DeliveryDoc } from '../db/types';

/** Every write to the attempt log. An attempt's `_id` derives from its delivery and its allocated number. */
export function createAttemptStore(attempts: Collection<AttemptDoc>) {
  /** Attempts are numbered 0 to attemptCount - 1 (a number allocated by a run that died has no record). */
  const idsOf = (delivery: Pick<DeliveryDoc, '_id' | 'attemptCount'>) =>
    Array.from({ length: delivery.attemptCount }, (_, seq) => attemptId(delivery._id, seq));

  return {
    idsOf,
    /**
     * Recording the same attempt twice (a retried activity) overwrites it. The first recording is a
     * plain insert, one statement where an upsert reads before it writes.
     */
    async record(attempt: AttemptDoc): Promise<void> {
      try {
        await attempts.insertOne(attempt);
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
        const { _id, ...fields } = attempt;
        await attempts.replaceOne({ _id }, fields, { upsert: true });
      }
    },
    ofDelivery: (delivery: Pick<DeliveryDoc, '_id' | 'attemptCount'>) => findByIds(attempts, idsOf(delivery)),
    get: (id: string) => attempts.findOne({ _id: id }),
    deleteOfDeliveries: (deliveries: Pick<DeliveryDoc, '_id' | 'attemptCount'>[]) => deleteByIds(attempts, deliveries.flatMap(idsOf)),
  };
}

export type AttemptStore = ReturnType<typeof createAttemptStore>;
