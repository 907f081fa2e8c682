import type { Filter } from 'mongodb';
import type { Collections } from './db/mongo';
import type { AttemptDoc, MaintenanceRunDoc } from './db/types';
import type { EndpointService } from './endpoints';
import { afterPosition, decodeCursor, pageSize, timeRange, toPage, type Page } from './paging';

const DAY_MS = 24 * 60 * 60_000;

/** Reads of the attempt log and the maintenance record, for receivers and operators. */
export function createHistoryService(db: Collections, endpoints: EndpointService, now: () => Date = () => new Date()) {
  return {
    async attempts(
      tenantId: string,
      endpointId: string,
      filter: { startedAfter?: Date | null; startedBefore?: Date | null } | null | undefined,
      first?: number | null,
      after?: string | null,
    ): Promise<Page<AttemptDoc>> {
      await endpoints.getForHistory(tenantId, endpointId);
      const size = pageSize(first);
      const started = timeRange(filter?.startedAfter, filter?.startedBefore);
      const query: Filter<AttemptDoc> = { endpointId, ...(started ? { startedAt: started } : {}) };
      const rows = await db.attempts
        .find({ $and: [query, afterPosition<AttemptDoc>(decodeCursor(after), 'startedAt', '_id')] })
        .sort({ startedAt: -1, _id: -1 })
        .limit(size + 1)
        .toArray();
      return {
        ...toPage(rows, size, (row) => ({ at: row.startedAt, id: row._id })),
        count: () => db.attempts.countDocuments(query),
      };
    },

    /** Counts and last times over the last 24 hours, each an index range on (endpointId, startedAt). */
    async stats(endpointId: string) {
      const since = new Date(now().getTime() - DAY_MS);
      const window = { endpointId, startedAt: { $gte: since } };
      const latest = (succeeded: boolean) =>
        db.attempts
          .find({ ...window, succeeded }, { projection: { startedAt: 1 } })
          .sort({ startedAt: -1 })
          .limit(1)
          .next();
      const [succeeded, failed, lastSuccess, lastFailure] = await Promise.all([
        db.attempts.countDocuments({ ...window, succeeded: true }),
        db.attempts.countDocuments({ ...window, succeeded: false }),
        latest(true),
        latest(false),
      ]);
      return { since, succeeded, failed, lastSuccessAt: lastSuccess?.startedAt ?? null, lastFailureAt: lastFailure?.startedAt ?? null };
    },

    async maintenanceRuns(first?: number | null): Promise<MaintenanceRunDoc[]> {
      return db.maintenanceRuns.find({}).sort({ startedAt: -1 }).limit(pageSize(first, 20)).toArray();
    },
  };
}

export type HistoryService = ReturnType<typeof createHistoryService>;
