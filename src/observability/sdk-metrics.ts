/**
 * The Temporal SDK's own metrics come from its Rust core, through the core's Prometheus exporter on
 * an address of its own (HOOKFLOW_SDK_METRICS_PORT). With the options below the names are, for example:
 * `temporal_worker_task_slots_available{worker_type}`, `temporal_worker_task_slots_used{worker_type}`,
 * `temporal_activity_schedule_to_start_latency_seconds`, `temporal_workflow_task_schedule_to_start_latency_seconds`,
 * `temporal_sticky_cache_size`, `temporal_sticky_cache_hit_total`, `temporal_activity_execution_failed_total`
 * (README, "Observability", lists what the exporter serves).
 */
import type { MetricsExporterConfig } from '@temporalio/worker';

export const sdkPrometheusMetrics = (bindAddress: string): MetricsExporterConfig => ({
  prometheus: {
    bindAddress,
    // Prometheus conventions, as Hookflow's own metrics follow them: counters end in _total, durations are seconds.
    countersTotalSuffix: true,
    unitSuffix: true,
    useSecondsForDurations: true,
  },
});
