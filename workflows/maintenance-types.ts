/** Plain-JSON types of the maintenance workflow. Pure. */
export interface MaintenanceInput {
  retentionMs: number;
  /** Rows younger than this are left alone: their workflow may simply not have run yet. */
  minAgeMs: number;
  /** "Now" for this run; tests set it instead of waiting. */
  asOf?: number;
}

/** Messages one retention step deletes. */
export const RETENTION_BATCH = 500;
/** At most this many retention steps a run; what is left is deleted by the next run. */
export const MAX_RETENTION_BATCHES = 200;

export interface MaintenanceCounts {
  messagesDeleted: number;
  deliveriesDeleted: number;
  attemptsDeleted: number;
  parkedExpired: number;
  messageWorkflowsStarted: number;
  deliveriesCorrected: number;
  endpointStatusesCorrected: number;
  endpointWorkflowsStarted: number;
  parkedResumed: number;
  endpointEventsDeleted: number;
  notificationsDeleted: number;
  /** Items a step could not repair (logged); the next run tries them again. */
  itemsFailed: number;
}

export interface MaintenanceReport {
  runId: string;
  workflowId: string;
  startedAt: string;
  finishedAt: string;
  asOf: string;
  counts: MaintenanceCounts;
}

export const emptyMaintenanceCounts = (): MaintenanceCounts => ({
  messagesDeleted: 0,
  deliveriesDeleted: 0,
  attemptsDeleted: 0,
  parkedExpired: 0,
  messageWorkflowsStarted: 0,
  deliveriesCorrected: 0,
  endpointStatusesCorrected: 0,
  endpointWorkflowsStarted: 0,
  parkedResumed: 0,
  endpointEventsDeleted: 0,
  notificationsDeleted: 0,
  itemsFailed: 0,
});

export function addCounts(total: MaintenanceCounts, part: Partial<MaintenanceCounts>): void {
  for (const [key, value] of Object.entries(part) as [keyof MaintenanceCounts, number][]) total[key] += value;
}
