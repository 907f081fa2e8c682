import type { Collection } from 'mongodb';
import type { MaintenanceRunDoc } from '../db/types';
import type { MaintenanceReport } from '../../workflows/maintenance-types';

/** Every write to the record of maintenance runs: one document per run, under its run id. */
export function createMaintenanceRunStore(runs: Collection<MaintenanceRunDoc>) {
  return {
    async record(report: MaintenanceReport): Promise<void> {
      await runs.replaceOne(
        { _id: report.runId },
        { workflowId: report.workflowId, startedAt: new Date(report.startedAt), finishedAt: new Date(report.finishedAt), counts: { ...report.counts } },
        { upsert: true },
      );
    },
  };
}
