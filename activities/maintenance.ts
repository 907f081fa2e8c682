/** Where retention deletes and reconciliation repairs drift between MongoDB and Temporal. */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { attemptId, deliveryId, type DeliveryDoc } from '../src/db/types';
import type { Store } from '../src/store';
import { enqueueKeyedMessage, orderingWorkflowId, recordedLifecycleState, startEndpointWorkflow, startMessageWorkflow, startRedelivery } from '../src/starts';
import type { DeliverMessageResult, DeliveryStatus } from '../workflows/delivery-types';
import { deliverMessageWorkflowId, endpointWorkflowId, lifecycleStateQuery, redeliverWorkflowId, sequenceStateQuery } from '../workflows/definitions';
import type { LifecycleState } from '../workflows/endpoint-lifecycle';
import type { MaintenanceCounts, MaintenanceReport } from '../workflows/maintenance-types';
import { recordRepairs } from '../src/observability/metrics';

export interface MaintenanceDeps {
  store: Store;
  temporal: Client;
  taskQueue: string;
  log: Logger;
}

/** How many rows one reconciliation step looks at; the rest waits for the next run. */
const RECONCILE_LIMIT = 2_000;
/** A run started this long before its message was stored belongs to an earlier message with the same id. */
const CLOCK_SKEW_MS = 5_000;

async function describeOrNull(temporal: Client, workflowId: string) {
  try {
    return await temporal.workflow.getHandle(workflowId).describe();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return null;
    throw error;
  }
}

/** The steps of the maintenance workflow. Each is bounded and idempotent, and counts what it did. */
export function createMaintenanceActivities({ store, temporal, taskQueue, log }: MaintenanceDeps) {
  const repaired = (kind: string, details: Record<string, unknown>) => log.info({ repair: kind, ...details }, 'maintenance repair');
  /**
   * One item that cannot be repaired (a server refusing it, a document it cannot read) is logged and
   * counted, and the step goes on with the others: it must not hold every later repair hostage.
   */
  const eachItem = async <T>(items: Iterable<T>, counts: { itemsFailed: number }, what: string, repair: (item: T) => Promise<void>) => {
    for (const item of items) {
      try {
        await repair(item);
      } catch (error) {
        counts.itemsFailed += 1;
        log.error({ err: error, item, step: what }, 'maintenance could not repair an item; the next run tries again');
      }
    }
  };

  return {
    /**
     * Deletes up to `limit` messages past the cutoff, oldest first, with their deliveries and attempts; a
     * parked one is logged on its endpoint. The first read is a range of the `created` index, read in its
     * order up to the limit (on FerretDB too, with Hookflow's patch); the deliveries' and attempts' ids
     * follow from the message's, so the rest are `_id` lookups.
     */
    async deleteExpiredBatch(args: { cutoff: number; limit: number }): Promise<Partial<MaintenanceCounts>> {
      const cutoff = new Date(args.cutoff);
      const expired = await store.messages.listExpired(cutoff, args.limit);
      if (expired.length === 0) return { messagesDeleted: 0 };
      const deliveries = await store.deliveries.getMany(expired.flatMap((m) => m.endpointIds.map((e) => deliveryId(m._id, e))));
      const parked = deliveries.filter((d) => d.status === 'PARKED');
      for (const delivery of parked) await store.endpointEvents.recordParkedExpired(delivery, cutoff);
      const attemptsDeleted = await store.attempts.deleteOfDeliveries(deliveries);
      const deliveriesDeleted = await store.deliveries.deleteMany(deliveries.map((d) => d._id));
      const messagesDeleted = await store.messages.deleteMany(expired.map((m) => m._id));
      log.info({ messages: messagesDeleted, cutoff }, 'retention batch deleted');
      return { messagesDeleted, deliveriesDeleted, attemptsDeleted, parkedExpired: parked.length };
    },

    /** Endpoint events and notification records are kept as long as messages. */
    async pruneEndpointHistory(args: { cutoff: number; limit: number }): Promise<Partial<MaintenanceCounts>> {
      const pruned = await store.endpointEvents.pruneBefore(new Date(args.cutoff), args.limit);
      return { endpointEventsDeleted: pruned.events, notificationsDeleted: pruned.notifications };
    },

    /**
     * Deliveries never attempted, whose message workflow does not exist (the API stopped between storing
     * and starting), or exists only as a run older than the message (an idempotency key repeated after
     * retention deleted the first message). The workflow is started; rows of a message never stored go.
     */
    async reconcileUnstartedMessages(args: { asOf: number; minAgeMs: number }): Promise<Partial<MaintenanceCounts>> {
      const counts = { messageWorkflowsStarted: 0, deliveriesCorrected: 0, itemsFailed: 0 };
      const rows = await store.deliveries.listStale(['PENDING', 'WAITING'], new Date(args.asOf - args.minAgeMs), RECONCILE_LIMIT);
      const messageIds = new Set(rows.filter((r) => r.attemptCount === 0 && r.workflowId === deliverMessageWorkflowId(r.messageId)).map((r) => r.messageId));
      await eachItem(messageIds, counts, 'unstarted messages', async (messageId) => {
        const message = await store.messages.get(messageId);
        if (!message) {
          counts.deliveriesCorrected += await store.deliveries.removeOrphansOfMessage(messageId);
          repaired('orphan delivery rows removed', { messageId });
          return;
        }
        if (message.orderingKey) {
          // A keyed message waits in its key's sequence; one the sequence never heard of joins it now.
          const waiting = rows.filter((r) => r.messageId === messageId && r.status === 'WAITING').map((r) => r.endpointId);
          const sequence = await describeOrNull(temporal, orderingWorkflowId(message.tenantId, message.orderingKey));
          const state = sequence?.status.name === 'RUNNING' ? await temporal.workflow.getHandle(sequence.workflowId).query(sequenceStateQuery) : null;
          const known = waiting.every((endpointId) => state?.queues[endpointId]?.includes(messageId));
          const delivering = (await describeOrNull(temporal, message.workflowId))?.status.name === 'RUNNING';
          if (known || delivering || waiting.length === 0) return;
          await enqueueKeyedMessage(temporal, taskQueue, message);
          counts.messageWorkflowsStarted += 1;
          repaired('keyed message enqueued in its sequence', { messageId, orderingKey: message.orderingKey });
          return;
        }
        const run = await describeOrNull(temporal, message.workflowId);
        const runIsOlder = run !== null && run.startTime.getTime() < message.createdAt.getTime() - CLOCK_SKEW_MS;
        if (run && !runIsOlder) return;
        await store.deliveries.ensureForMessage(message);
        if (await startMessageWorkflow(temporal, taskQueue, message, { afterClosedRun: runIsOlder })) {
          counts.messageWorkflowsStarted += 1;
          repaired('message workflow started', { messageId });
        }
      });
      return counts;
    },

    /**
     * Deliveries still PENDING or FAILING whose run has closed take their status from it. Rows an
     * endpoint's redelivery held when it stopped go back to it.
     */
    async reconcileOpenDeliveries(args: { asOf: number; minAgeMs: number }): Promise<Partial<MaintenanceCounts>> {
      const counts = { deliveriesCorrected: 0, parkedResumed: 0, itemsFailed: 0 };
      const rows = await store.deliveries.listStale(['PENDING', 'FAILING'], new Date(args.asOf - args.minAgeMs), RECONCILE_LIMIT);
      const byWorkflow = new Map<string, DeliveryDoc[]>();
      for (const row of rows) byWorkflow.set(row.workflowId, [...(byWorkflow.get(row.workflowId) ?? []), row]);

      await eachItem(byWorkflow, counts, 'open deliveries', async ([workflowId, deliveries]) => {
        const description = await describeOrNull(temporal, workflowId);
        if (description?.status.name === 'RUNNING') return;
        // An endpoint's redelivery, or a redelivery run of an earlier version (resend-…, redeliver-…-<n>).
        if (workflowId.startsWith('redeliver-') || workflowId.startsWith('resend-')) {
          const { endpointId, tenantId } = deliveries[0]!;
          const handed = deliveries.filter((d) => d.endpointId === endpointId).map((d) => d.messageId);
          await startRedelivery(temporal, taskQueue, tenantId, endpointId, handed);
          counts.parkedResumed += 1;
          repaired('deliveries of a stopped redelivery handed back to it', { workflowId, deliveries: handed.length });
          return;
        }
        let fromResult: DeliverMessageResult | null = null;
        if (description?.status.name === 'COMPLETED') fromResult = await temporal.workflow.getHandle(workflowId).result();
        for (const delivery of deliveries) {
          let status: DeliveryStatus | 'SUPERSEDED' | undefined = fromResult?.deliveries.find((d) => d.endpointId === delivery.endpointId)?.status;
          if (status === 'SUPERSEDED') continue;
          if (!status) {
            // A run that ended without a result for it (terminated, or purged): its last attempt decides.
            const last = delivery.attemptCount > 0 ? await store.attempts.get(attemptId(delivery._id, delivery.attemptCount - 1)) : null;
            status = last?.succeeded ? 'SUCCEEDED' : 'EXHAUSTED';
          }
          if (await store.deliveries.correctStatus(delivery, status)) {
            counts.deliveriesCorrected += 1;
            repaired('delivery status corrected from its closed workflow', { deliveryId: delivery._id, workflowId, from: delivery.status, to: status });
          }
        }
      });
      return counts;
    },

    /**
     * Every endpoint has a running lifecycle workflow, MongoDB shows the status that workflow holds, and
     * an endpoint that is not disabled has no parked delivery left without its redelivery running.
     */
    async reconcileEndpoints(_args: { asOf: number }): Promise<Partial<MaintenanceCounts>> {
      const counts = { endpointStatusesCorrected: 0, endpointWorkflowsStarted: 0, parkedResumed: 0, itemsFailed: 0 };
      const endpoints = await store.endpoints.listLive(null, RECONCILE_LIMIT);
      await eachItem(endpoints, counts, 'endpoints', async (endpoint) => {
        const handle = temporal.workflow.getHandle(endpointWorkflowId(endpoint._id));
        const description = await describeOrNull(temporal, handle.workflowId);
        let state: LifecycleState;
        if (!description || description.status.name !== 'RUNNING') {
          // Lost: resume it from what MongoDB recorded, numbering new events after the recorded ones.
          state = await recordedLifecycleState(store, endpoint);
          if (await startEndpointWorkflow(temporal, taskQueue, endpoint, state)) {
            counts.endpointWorkflowsStarted += 1;
            repaired('endpoint workflow started', { endpointId: endpoint._id, status: state.status });
          }
          // A FAILING endpoint with no failing delivery left resumes ACTIVE: MongoDB is told.
          if (state.status !== endpoint.status && (await store.endpoints.correctLifecycleStatus(endpoint, state))) {
            counts.endpointStatusesCorrected += 1;
            repaired('endpoint status corrected from its resumed workflow', { endpointId: endpoint._id, from: endpoint.status, to: state.status });
          }
        } else {
          state = await handle.query(lifecycleStateQuery);
          // Only if nothing wrote the endpoint since it was read: the workflow may have moved on and
          // saved a newer status after answering the query (found by the model test).
          if (state.status !== endpoint.status && (await store.endpoints.correctLifecycleStatus(endpoint, state))) {
            counts.endpointStatusesCorrected += 1;
            repaired('endpoint status corrected from its workflow', { endpointId: endpoint._id, from: endpoint.status, to: state.status });
          }
        }
        if (state.status === 'DISABLED' || !(await store.deliveries.hasParked(endpoint._id))) return;
        if ((await describeOrNull(temporal, redeliverWorkflowId(endpoint._id)))?.status.name === 'RUNNING') return;
        await startRedelivery(temporal, taskQueue, endpoint.tenantId, endpoint._id, []);
        counts.parkedResumed += 1;
        repaired('parked deliveries of an active endpoint resumed', { endpointId: endpoint._id });
      });
      return counts;
    },

    async recordMaintenanceRun(report: MaintenanceReport): Promise<void> {
      await store.maintenanceRuns.record(report);
      log.info({ ...report.counts, runId: report.runId }, 'maintenance run finished');
      recordRepairs(report.counts);
    },
  };
}
