/**
 * Hookflow's own Prometheus metrics: one registry per process, written through the small functions
 * below so that the call sites in the delivery code stay one line each. No label carries an endpoint
 * id, a tenant id or a URL, so the number of series stays bounded whatever the traffic.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Collection } from 'mongodb';
import type { PostResult } from '../webhooks/http-post';
import type { DeliveryStatus, EndpointStatus } from '../../workflows/delivery-types';
import { NOTIFICATION_CHANNELS, type NotificationChannel as Channel } from '../../workflows/endpoint-lifecycle';
import type { MaintenanceCounts } from '../../workflows/maintenance-types';
import type { EndpointDoc } from '../db/types';

export const registry = new Registry();

/** HOOKFLOW_METRICS=false turns recording off (the benchmark measures what metrics cost). */
let recording = true;
export function setMetricsRecording(enabled: boolean): void {
  recording = enabled;
}
collectDefaultMetrics({ register: registry });

export type AttemptResult = 'acknowledged' | 'http_error' | 'timeout' | 'connection' | 'throttled';
export type DeliveryOutcome = 'succeeded' | 'parked' | 'cancelled' | 'exhausted';
export type NotificationResult = 'sent' | 'failed';

/** From a few milliseconds on loopback to the 15 s budget of an attempt. */
const ATTEMPT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15];
/** From an immediate delivery to the last retry of the default policy (about a day). */
const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600];

const messagesAccepted = new Counter({
  name: 'hookflow_messages_accepted_total',
  help: 'Messages stored and started by sendMessage (an idempotent repeat is not counted again).',
  registers: [registry],
});
const workflowStarts = new Counter({
  name: 'hookflow_workflow_starts_total',
  help: 'Message workflows started by the API (keyed ones are enqueued on their sequence instead), by whether the server started them eagerly (npm start).',
  labelNames: ['eager'] as const,
  registers: [registry],
});
const attempts = new Counter({
  name: 'hookflow_attempts_total',
  help: 'Delivery attempts posted, by result.',
  labelNames: ['result'] as const,
  registers: [registry],
});
const attemptDuration = new Histogram({
  name: 'hookflow_attempt_duration_seconds',
  help: 'Time of one POST attempt, from sending to the response (or the failure).',
  buckets: ATTEMPT_BUCKETS,
  registers: [registry],
});
const deliveryLatency = new Histogram({
  name: 'hookflow_delivery_latency_seconds',
  help: 'From the message being accepted to its first 2xx from the endpoint (deliveries acknowledged in their first run).',
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});
const deliveries = new Counter({
  name: 'hookflow_deliveries_total',
  help: 'Deliveries (one message to one endpoint) that reached a final or parked status.',
  labelNames: ['status'] as const,
  registers: [registry],
});
const lifecycleEvents = new Counter({
  name: 'hookflow_lifecycle_events_total',
  help: 'Endpoint lifecycle events raised (on_failure, on_failure_recovered, on_deactivation, ...).',
  labelNames: ['kind'] as const,
  registers: [registry],
});
const notifications = new Counter({
  name: 'hookflow_notifications_total',
  help: 'Lifecycle notifications sent, by channel and result (a failed one is retried and counted again).',
  labelNames: ['channel', 'result'] as const,
  registers: [registry],
});
const repairs = new Counter({
  name: 'hookflow_maintenance_repairs_total',
  help: 'Drifts corrected by the maintenance workflow, by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

// Every label value is known in advance: the series exist at 0 from the start, so rate() and
// increase() see the first event, and a dashboard shows 0 rather than "no data".
for (const result of ['acknowledged', 'http_error', 'timeout', 'connection', 'throttled'] as const) attempts.labels(result);
for (const eager of ['true', 'false'] as const) workflowStarts.labels(eager);
for (const status of ['succeeded', 'parked', 'cancelled', 'exhausted'] as const) deliveries.labels(status);
for (const kind of ['on_failure', 'on_failure_recovered', 'on_deactivation', 'reactivated']) lifecycleEvents.labels(kind);
for (const channel of NOTIFICATION_CHANNELS) for (const result of ['sent', 'failed'] as const) notifications.labels(channel, result);

export function recordWorkflowStart(eager: boolean): void {
  if (!recording) return;
  workflowStarts.labels(eager ? 'true' : 'false').inc();
}

export function recordAccepted(): void {
  if (!recording) return;
  messagesAccepted.inc();
}

/** How a POST result is counted: a 429 is the receiver throttling us; a failure to talk HTTP at all is `connection`. */
export function attemptResultOf(result: PostResult): AttemptResult {
  if (result.ok) return 'acknowledged';
  if (result.reason === 'http_status') return result.statusCode === 429 ? 'throttled' : 'http_error';
  if (result.reason === 'timeout') return 'timeout';
  return 'connection';
}

export function recordAttempt(result: AttemptResult, seconds: number): void {
  if (!recording) return;
  attempts.labels(result).inc();
  attemptDuration.observe(seconds);
}

export function recordDelivery(status: DeliveryOutcome, count = 1): void {
  if (recording && count > 0) deliveries.labels(status).inc(count);
}

export function observeDeliveryLatency(seconds: number): void {
  if (!recording) return;
  deliveryLatency.observe(seconds);
}

/**
 * Everything one recorded attempt tells: its result and time, the delivery's new status, and the
 * latency of a first acknowledgement. A delivery whose retries ran out is kept as PARKED in MongoDB
 * but counted as `exhausted`.
 */
export function recordAttemptMetrics(args: {
  result: PostResult;
  durationMs: number;
  status: DeliveryStatus;
  acceptedAt: Date;
  /** False for a resend or a redelivery run, whose latency would count from a much older acceptance. */
  firstRun: boolean;
  now?: Date;
}): void {
  if (!recording) return;
  recordAttempt(attemptResultOf(args.result), args.durationMs / 1000);
  if (args.status === 'SUCCEEDED') {
    recordDelivery('succeeded');
    if (args.firstRun) observeDeliveryLatency(((args.now ?? new Date()).getTime() - args.acceptedAt.getTime()) / 1000);
  }
  if (args.status === 'PARKED') recordDelivery('exhausted');
}

export function recordLifecycleEvent(kind: string): void {
  if (!recording) return;
  lifecycleEvents.labels(kind.toLowerCase()).inc();
}

export function recordNotification(channel: Channel, result: NotificationResult): void {
  if (!recording) return;
  notifications.labels(channel, result).inc();
}

/** Awaits one notification send and counts it as sent or failed; the failure still propagates. */
export async function trackNotification(channel: Channel, sending: Promise<void>): Promise<void> {
  try {
    await sending;
    recordNotification(channel, 'sent');
  } catch (error) {
    recordNotification(channel, 'failed');
    throw error;
  }
}

const REPAIR_KINDS: Partial<Record<keyof MaintenanceCounts, string>> = {
  parkedExpired: 'parked_message_expired',
  messageWorkflowsStarted: 'message_workflow_started',
  deliveriesCorrected: 'delivery_corrected',
  endpointStatusesCorrected: 'endpoint_status_corrected',
  endpointWorkflowsStarted: 'endpoint_workflow_started',
  parkedResumed: 'parked_resumed',
};

for (const kind of Object.values(REPAIR_KINDS)) repairs.labels(kind);

export function recordRepair(kind: string, count = 1): void {
  if (recording && count > 0) repairs.labels(kind).inc(count);
}

/** The repairs of one maintenance run (its deletions by retention are not repairs). */
export function recordRepairs(counts: MaintenanceCounts): void {
  for (const [key, kind] of Object.entries(REPAIR_KINDS) as [keyof MaintenanceCounts, string][]) recordRepair(kind, counts[key]);
}

const ENDPOINT_STATUSES: EndpointStatus[] = ['ACTIVE', 'FAILING', 'DISABLED'];
/** Counting endpoints is a scan on FerretDB: a scrape every few seconds reuses the last count. */
const ENDPOINT_COUNT_TTL_MS = 5_000;

/**
 * `hookflow_endpoints{status}`, counted in MongoDB when scraped (at most once per ENDPOINT_COUNT_TTL_MS).
 * Deleted endpoints are not counted. Only one process need register it (the API does).
 */
export function watchEndpointStatuses(endpoints: Collection<EndpointDoc>): void {
  registry.removeSingleMetric('hookflow_endpoints');
  let cached: { at: number; counts: number[] } | undefined;
  new Gauge({
    name: 'hookflow_endpoints',
    help: 'Endpoints (not deleted) by lifecycle status.',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      if (!cached || Date.now() - cached.at > ENDPOINT_COUNT_TTL_MS) {
        const counts = await Promise.all(ENDPOINT_STATUSES.map((status) => endpoints.countDocuments({ status, deletedAt: null }, { maxTimeMS: 2_000 })));
        cached = { at: Date.now(), counts };
      }
      ENDPOINT_STATUSES.forEach((status, i) => this.labels(status.toLowerCase()).set(cached!.counts[i]!));
    },
  });
}
