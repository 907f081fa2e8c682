import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { addCounts, emptyMaintenanceCounts, MAX_RETENTION_BATCHES, RETENTION_BATCH, type MaintenanceInput, type MaintenanceReport } from './maintenance-types';

/** Each step is bounded (batches of rows, a limit on checks), so a short timeout fits it. */
const steps = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
});

/**
 * The scheduled maintenance (Temporal Schedule `hookflow-maintenance`): deletes what is older than
 * the retention in bounded batches, then repairs drift between MongoDB and Temporal. Every repair is
 * idempotent, so a second run right after finds nothing. The result is the run's record.
 */
export async function maintenance(input: MaintenanceInput): Promise<MaintenanceReport> {
  const startedAt = Date.now();
  const asOf = input.asOf ?? startedAt;
  const counts = emptyMaintenanceCounts();

  for (let batch = 0; batch < MAX_RETENTION_BATCHES; batch++) {
    const deleted = await steps.deleteExpiredBatch({ cutoff: asOf - input.retentionMs, limit: RETENTION_BATCH });
    addCounts(counts, deleted);
    if ((deleted.messagesDeleted ?? 0) < RETENTION_BATCH) break;
  }
  // Runs recorded before endpoint events were pruned replay without this step.
  for (let batch = 0; patched('prune-endpoint-history') && batch < MAX_RETENTION_BATCHES; batch++) {
    const pruned = await steps.pruneEndpointHistory({ cutoff: asOf - input.retentionMs, limit: RETENTION_BATCH });
    addCounts(counts, pruned);
    if ((pruned.endpointEventsDeleted ?? 0) < RETENTION_BATCH && (pruned.notificationsDeleted ?? 0) < RETENTION_BATCH) break;
  }
  addCounts(counts, await steps.reconcileUnstartedMessages({ asOf, minAgeMs: input.minAgeMs }));
  addCounts(counts, await steps.reconcileOpenDeliveries({ asOf, minAgeMs: input.minAgeMs }));
  addCounts(counts, await steps.reconcileEndpoints({ asOf }));

  const report: MaintenanceReport = {
    runId: workflowInfo().runId,
    workflowId: workflowInfo().workflowId,
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: new Date(Date.now()).toISOString(),
    asOf: new Date(asOf).toISOString(),
    counts,
  };
  await steps.recordMaintenanceRun(report);
  return report;
}
