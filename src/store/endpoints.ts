import type { Collection } from 'mongodb';
import type { EndpointDoc, SealedSecret } from '../db/types';
import type { CreateEndpointFields } from '../validation';
import type { EndpointStatus } from '../../workflows/delivery-types';

type LifecycleStatus = { status: EndpointStatus; failingSince: number | null; disabledAt: number | null };

/** Every write to the endpoints collection. The status fields are written only by the endpoint's lifecycle workflow. */
export function createEndpointStore(endpoints: Collection<EndpointDoc>, now: () => Date) {
  /** The lifecycle's fields of an endpoint, as its workflow holds them (times in ms). */
  const lifecycleFields = (status: LifecycleStatus) => {
    const toDate = (ms: number | null) => (ms === null ? null : new Date(ms));
    return { status: status.status, failingSince: toDate(status.failingSince), disabledAt: toDate(status.disabledAt), updatedAt: now() };
  };
  return {
    get: (id: string) => endpoints.findOne({ _id: id }),
    insert: async (endpoint: EndpointDoc) => void (await endpoints.insertOne(endpoint)),
    async updateFields(id: string, fields: Partial<CreateEndpointFields>): Promise<void> {
      await endpoints.updateOne({ _id: id }, { $set: { ...fields, updatedAt: now() } });
    },
    async setSecrets(id: string, secrets: SealedSecret[]): Promise<void> {
      await endpoints.updateOne({ _id: id }, { $set: { secrets, updatedAt: now() } });
    },
    async markDeleted(id: string): Promise<Date> {
      const at = now();
      await endpoints.updateOne({ _id: id }, { $set: { deletedAt: at, updatedAt: at } });
      return at;
    },
    async setLifecycleStatus(id: string, status: LifecycleStatus): Promise<void> {
      await endpoints.updateOne({ _id: id }, { $set: lifecycleFields(status) });
    },
    /**
     * Maintenance: the status the lifecycle workflow holds, written only if the endpoint is still as
     * maintenance read it. A lifecycle write that landed in between (a disable after the query) is newer
     * than the queried state, and must not be overwritten by it. Says whether it wrote.
     */
    async correctLifecycleStatus(read: Pick<EndpointDoc, '_id' | 'status' | 'updatedAt'>, status: LifecycleStatus): Promise<boolean> {
      const result = await endpoints.updateOne({ _id: read._id, status: read.status, updatedAt: read.updatedAt }, { $set: lifecycleFields(status) });
      return result.modifiedCount > 0;
    },
    /** Maintenance walks live endpoints by `_id`, a bounded page at a time. */
    listLive: (afterId: string | null, limit: number) =>
      endpoints
        .find({ deletedAt: null, ...(afterId ? { _id: { $gt: afterId } } : {}) })
        .sort({ _id: 1 })
        .limit(limit)
        .toArray(),
  };
}

export type EndpointStore = ReturnType<typeof createEndpointStore>;
