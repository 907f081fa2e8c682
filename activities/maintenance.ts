import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { ensureDeliveryRows } from '../src/db/deliveries';
import { deleteByIds, findByIds, type Collections } from '../src/db/mongo';
import { attemptId, deliveryId, type DeliveryDoc } from '../src/db/types';
import { startEndpointWorkflow, startMessageWorkflow } from '../src/starts';
import type { DeliverMessageResult, DeliveryStatus } from '../workflows/delivery-types';
import { deliverMessageWorkflowId, endpointWorkflowId, lifecycleStateQuery, redeliverWorkflowId } from '../workflows/definitions';
import type { LifecycleState } from '../workflows/endpoint-lifecycle';
import type { MaintenanceCounts, MaintenanceReport } from '../workflows/maintenance-types';

export interface MaintenanceDeps {
  db: Collections;
  temporal: Client;
  taskQueue: string;
  log: Logger;
  now: () => Date;
}

/** How many rows one reconciliation step looks at; the rest waits for the next run. */
const RECONCILE_LIMIT = 2_000;

async function describeOrNull(temporal: Client, workflowId: string) {
  try {
    return await temporal.workflow.getHandle(workflowId).describe();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return null;
    throw error;
  }
}

/** The steps of the maintenance workflow. Each is bounded and idempotent, and counts what it did. */
export function createMaintenanceActivities({ db, temporal, taskQueue, log, now }: MaintenanceDeps) {
  const repaired = (kind: string, details: Record<string, unknown>) => log.info({ repair: kind, ...details }, 'maintenance repair');

  return {
    /**
     * Deletes up to `limit` messages past the cutoff, oldest first, with their deliveries and attempts; a
     * parked one is logged on its endpoint. The first read is a range of the `created` index, read in its
     * order up to the limit (on FerretDB too, with Hookflow's patch); the deliveries' and attempts' ids
     * follow from the message's, so the rest are `_id` lookups.
     */
    async deleteExpiredBatch(args: { cutoff: number; limit: number }): Promise<Partial<MaintenanceCounts>> {
      const cutoff = new Date(args.cutoff);
      const expired = await db.messages
        .find({ createdAt: { $lt: cutoff } }, { projection: { _id: 1, endpointIds: 1 } })
        .sort({ createdAt: 1, _id: 1 })
        .limit(args.limit)
        .toArray();
      if (expired.length === 0) return { messagesDeleted: 0 };
      const deliveries = await findByIds(db.deliveries, expired.flatMap((m) => m.endpointIds.map((e) => deliveryId(m._id, e))));
      const parked = deliveries.filter((d) => d.status === 'PARKED');
      for (const delivery of parked) {
        await db.endpointEvents.replaceOne(
          { _id: `${delivery.endpointId}:expired:${delivery.messageId}` },
          {
            endpointId: delivery.endpointId,
            tenantId: delivery.tenantId,
            kind: 'PARKED_MESSAGE_EXPIRED',
            at: now(),
            reason: `a parked message was deleted by retention (created ${delivery.messageCreatedAt.toISOString()}, before ${cutoff.toISOString()})`,
            messageId: delivery.messageId,
            attempts: delivery.attemptCount,
            error: null,
          },
          { upsert: true },
        );
      }
      // Attempts are numbered 0 to attemptCount - 1. One more covers an attempt written by an activity
      // that stopped before it could count it on the delivery.
      const attemptIds = deliveries.flatMap((d) => Array.from({ length: d.attemptCount + 1 }, (_, seq) => attemptId(d._id, seq)));
      const attemptsDeleted = await deleteByIds(db.attempts, attemptIds);
      const deliveriesDeleted = await deleteByIds(db.deliveries, deliveries.map((d) => d._id));
      const messagesDeleted = await deleteByIds(db.messages, expired.map((m) => m._id));
      log.info({ messages: messagesDeleted, cutoff }, 'retention batch deleted');
      return { messagesDeleted, deliveriesDeleted, attemptsDeleted, parkedExpired: parked.length };
    },

    /**
     * Deliveries never attempted, whose message workflow does not exist: the API stopped between storing
     * and starting. The workflow is started; rows whose message was never stored are removed.
     */
    async reconcileUnstartedMessages(args: { asOf: number; minAgeMs: number }): Promise<Partial<MaintenanceCounts>> {
      const rows = await db.deliveries
        .find({ status: 'PENDING', attemptCount: 0, updatedAt: { $lt: new Date(args.asOf - args.minAgeMs) } }, { projection: { messageId: 1, workflowId: 1 } })
        .limit(RECONCILE_LIMIT)
        .toArray();
      const messageIds = [...new Set(rows.filter((r) => r.workflowId === deliverMessageWorkflowId(r.messageId)).map((r) => r.messageId))];
      let started = 0;
      let orphans = 0;
      for (const messageId of messageIds) {
        if (await describeOrNull(temporal, deliverMessageWorkflowId(messageId))) continue;
        const message = await db.messages.findOne({ _id: messageId });
        if (!message) {
          orphans += (await db.deliveries.deleteMany({ messageId, status: 'PENDING', attemptCount: 0 })).deletedCount;
          repaired('orphan delivery rows removed', { messageId });
          continue;
        }
        await ensureDeliveryRows(db, message);
        if (await startMessageWorkflow(temporal, taskQueue, message)) {
          started += 1;
          repaired('message workflow started', { messageId });
        }
      }
      return { messageWorkflowsStarted: started, deliveriesCorrected: orphans };
    },

    /** Deliveries still PENDING or FAILING whose workflow has closed take their status from it. */
    async reconcileOpenDeliveries(args: { asOf: number; minAgeMs: number }): Promise<Partial<MaintenanceCounts>> {
      const rows = await db.deliveries
        .find({ status: { $in: ['PENDING', 'FAILING'] }, updatedAt: { $lt: new Date(args.asOf - args.minAgeMs) } })
        .limit(RECONCILE_LIMIT)
        .toArray();
      const byWorkflow = new Map<string, DeliveryDoc[]>();
      for (const row of rows) byWorkflow.set(row.workflowId, [...(byWorkflow.get(row.workflowId) ?? []), row]);

      let corrected = 0;
      for (const [workflowId, deliveries] of byWorkflow) {
        const description = await describeOrNull(temporal, workflowId);
        if (!description || description.status.name === 'RUNNING') continue;
        let fromResult: DeliverMessageResult | null = null;
        if (description.status.name === 'COMPLETED' && workflowId.startsWith('deliver-')) {
          fromResult = await temporal.workflow.getHandle(workflowId).result();
        }
        for (const delivery of deliveries) {
          let status: DeliveryStatus | undefined = fromResult?.deliveries.find((d) => d.endpointId === delivery.endpointId)?.status;
          if (!status) {
            // A run that ended without a result for it (terminated, or a redelivery): its last attempt decides.
            const last = delivery.attemptCount > 0 ? await db.attempts.findOne({ _id: attemptId(delivery._id, delivery.attemptCount - 1) }) : null;
            status = last?.succeeded ? 'SUCCEEDED' : 'EXHAUSTED';
          }
          const result = await db.deliveries.updateOne({ _id: delivery._id, status: delivery.status }, { $set: { status, updatedAt: now() } });
          if (result.modifiedCount > 0) {
            corrected += 1;
            repaired('delivery status corrected from its closed workflow', { deliveryId: delivery._id, workflowId, from: delivery.status, to: status });
          }
        }
      }
      return { deliveriesCorrected: corrected };
    },

    /**
     * Every endpoint has a running lifecycle workflow, MongoDB shows the status that workflow holds, and
     * an endpoint that is not disabled has no parked delivery left behind.
     */
    async reconcileEndpoints(_args: { asOf: number }): Promise<Partial<MaintenanceCounts>> {
      const counts = { endpointStatusesCorrected: 0, endpointWorkflowsStarted: 0, parkedResumed: 0 };
      const endpoints = await db.endpoints.find({ deletedAt: null }).sort({ _id: 1 }).limit(RECONCILE_LIMIT).toArray();
      for (const endpoint of endpoints) {
        const handle = temporal.workflow.getHandle(endpointWorkflowId(endpoint._id));
        const description = await describeOrNull(temporal, handle.workflowId);
        let state: LifecycleState;
        if (!description || description.status.name !== 'RUNNING') {
          // Lost: resume it from what MongoDB recorded, numbering new events after the recorded ones.
          state = {
            status: endpoint.status,
            failing: {},
            failingSince: endpoint.failingSince?.getTime() ?? null,
            disabledAt: endpoint.disabledAt?.getTime() ?? null,
            eventCount: await db.endpointEvents.countDocuments({ endpointId: endpoint._id, kind: { $ne: 'PARKED_MESSAGE_EXPIRED' } }),
          };
          if (await startEndpointWorkflow(temporal, taskQueue, endpoint, state)) {
            counts.endpointWorkflowsStarted += 1;
            repaired('endpoint workflow started', { endpointId: endpoint._id, status: state.status });
          }
        } else {
          state = await handle.query(lifecycleStateQuery);
          if (state.status !== endpoint.status) {
            await db.endpoints.updateOne(
              { _id: endpoint._id },
              {
                $set: {
                  status: state.status,
                  failingSince: state.failingSince === null ? null : new Date(state.failingSince),
                  disabledAt: state.disabledAt === null ? null : new Date(state.disabledAt),
                  updatedAt: now(),
                },
              },
            );
            counts.endpointStatusesCorrected += 1;
            repaired('endpoint status corrected from its workflow', { endpointId: endpoint._id, from: endpoint.status, to: state.status });
          }
        }
        if (state.status === 'DISABLED') continue;
        if (!(await db.deliveries.findOne({ endpointId: endpoint._id, status: 'PARKED' }, { projection: { _id: 1 } }))) continue;
        // Same id as the reactivation's own redelivery: if that one still runs, this start is a no-op.
        const started = await temporal.workflow
          .start('redeliverParked', { taskQueue, workflowId: redeliverWorkflowId(endpoint._id, state.eventCount), args: [{ endpointId: endpoint._id, tenantId: endpoint.tenantId }] })
          .then(() => true)
          .catch((error: Error) => (error.name === 'WorkflowExecutionAlreadyStartedError' ? false : Promise.reject(error)));
        if (started) {
          counts.parkedResumed += 1;
          repaired('parked deliveries of an active endpoint resumed', { endpointId: endpoint._id });
        }
      }
      return counts;
    },

    async recordMaintenanceRun(report: MaintenanceReport): Promise<void> {
      await db.maintenanceRuns.replaceOne(
        { _id: report.runId },
        { workflowId: report.workflowId, startedAt: new Date(report.startedAt), finishedAt: new Date(report.finishedAt), counts: { ...report.counts } },
        { upsert: true },
      );
      log.info({ ...report.counts, runId: report.runId }, 'maintenance run finished');
    },
  };
}
