import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Collections } from './db/mongo';
import type { EndpointDoc, EndpointEventDoc } from './db/types';
import { notFound, UserError } from './errors';
import { newId } from './ids';
import type { SecretBox } from './secret-box';
import { assertUrlAllowed, type UrlPolicy } from './webhooks/url-guard';
import { startEndpointWorkflow } from './starts';
import { generateSecret } from './webhooks/signing';
import { parseCreateEndpoint, parseUpdateEndpoint } from './validation';
import type { EndpointStatus } from '../workflows/delivery-types';
import { cancelDeliverySignal, endpointDeletedSignal, endpointWorkflowId, lifecycleSignal } from '../workflows/definitions';
import type { LifecycleInput } from '../workflows/endpoint-lifecycle';
import { endpointDeletedEvents, publishLiveEvents } from './live';

export interface EndpointServiceDeps {
  db: Collections;
  secretBox: SecretBox;
  urlPolicy: UrlPolicy;
  /** How long a rotated secret keeps signing next to the new one. */
  rotationOverlapMs: number;
  temporal: Client;
  taskQueue: string;
  now?: () => Date;
  /** How long a lifecycle mutation waits for the endpoint's workflow to record the new status. */
  statusWaitMs?: number;
}

export function createEndpointService({
  db,
  secretBox,
  urlPolicy,
  rotationOverlapMs,
  temporal,
  taskQueue,
  now = () => new Date(),
  statusWaitMs = 10_000,
}: EndpointServiceDeps) {
  const startLifecycle = (endpoint: EndpointDoc) => startEndpointWorkflow(temporal, taskQueue, endpoint);

  const signalLifecycle = (endpoint: EndpointDoc, input: LifecycleInput) =>
    temporal.workflow.signalWithStart('endpointLifecycle', {
      taskQueue,
      workflowId: endpointWorkflowId(endpoint._id),
      args: [{ endpointId: endpoint._id, tenantId: endpoint.tenantId }],
      signal: lifecycleSignal,
      signalArgs: [input],
    });

  /** The lifecycle workflow owns the status: wait until it has recorded the one asked for. */
  const waitForStatus = async (id: string, status: EndpointStatus): Promise<EndpointDoc> => {
    const deadline = Date.now() + statusWaitMs;
    for (;;) {
      const endpoint = (await db.endpoints.findOne({ _id: id }))!;
      if (endpoint.status === status || Date.now() > deadline) return endpoint;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const service = {
    async create(tenantId: string, input: unknown): Promise<{ endpoint: EndpointDoc; secret: string }> {
      const fields = parseCreateEndpoint(input);
      assertUrlAllowed(fields.url, urlPolicy);
      const at = now();
      const secret = generateSecret();
      const endpoint: EndpointDoc = {
        _id: newId('ep'),
        tenantId,
        ...fields,
        secrets: [{ sealed: secretBox.seal(secret), expiresAt: null }],
        status: 'ACTIVE',
        failingSince: null,
        disabledAt: null,
        deletedAt: null,
        createdAt: at,
        updatedAt: at,
      };
      await db.endpoints.insertOne(endpoint);
      await startLifecycle(endpoint);
      return { endpoint, secret };
    },

    /**
     * Issues a new secret. The previous one keeps signing, next to it, for the overlap window, so that
     * receivers can switch without dropping a webhook; secrets already past their window are dropped.
     */
    async rotateSecret(tenantId: string, id: string): Promise<{ endpoint: EndpointDoc; secret: string; previousSecretExpiresAt: Date }> {
      const endpoint = await service.get(tenantId, id);
      const at = now();
      const previousSecretExpiresAt = new Date(at.getTime() + rotationOverlapMs);
      const secret = generateSecret();
      const kept = endpoint.secrets
        .map((s) => (s.expiresAt === null ? { ...s, expiresAt: previousSecretExpiresAt } : s))
        .filter((s) => s.expiresAt! > at);
      const secrets = [{ sealed: secretBox.seal(secret), expiresAt: null }, ...kept];
      await db.endpoints.updateOne({ _id: id }, { $set: { secrets, updatedAt: at } });
      return { endpoint: { ...endpoint, secrets }, secret, previousSecretExpiresAt };
    },

    /** Another tenant's endpoint, or a deleted one, is reported as not found, exactly like a missing one. */
    async get(tenantId: string, id: string): Promise<EndpointDoc> {
      const endpoint = await db.endpoints.findOne({ _id: id });
      if (!endpoint || endpoint.tenantId !== tenantId || endpoint.deletedAt) throw notFound('endpoint', id);
      return endpoint;
    },

    /** For history: the endpoint a delivery went to, even if it was deleted since. */
    async getForHistory(tenantId: string, id: string): Promise<EndpointDoc> {
      const endpoint = await db.endpoints.findOne({ _id: id });
      if (!endpoint || endpoint.tenantId !== tenantId) throw notFound('endpoint', id);
      return endpoint;
    },

    async list(tenantId: string): Promise<EndpointDoc[]> {
      return db.endpoints.find({ tenantId, deletedAt: null }).sort({ createdAt: 1, _id: 1 }).toArray();
    },

    /** The tenant's live endpoints subscribed to an event type (no event types = all), disabled ones included. */
    async matching(tenantId: string, eventType: string): Promise<Pick<EndpointDoc, '_id'>[]> {
      return db.endpoints
        .find({ tenantId, deletedAt: null, $or: [{ eventTypes: eventType }, { eventTypes: { $size: 0 } }] }, { projection: { _id: 1 } })
        .sort({ createdAt: 1, _id: 1 })
        .toArray();
    },

    async update(tenantId: string, id: string, input: unknown): Promise<EndpointDoc> {
      const endpoint = await service.get(tenantId, id);
      const fields = parseUpdateEndpoint(input, endpoint.retryPolicy);
      if (fields.url) assertUrlAllowed(fields.url, urlPolicy);
      await db.endpoints.updateOne({ _id: id }, { $set: { ...fields, updatedAt: now() } });
      return (await db.endpoints.findOne({ _id: id }))!;
    },

    async disable(tenantId: string, id: string): Promise<EndpointDoc> {
      const endpoint = await service.get(tenantId, id);
      if (endpoint.status === 'DISABLED') {
        throw new UserError('ENDPOINT_ALREADY_DISABLED', `endpoint ${JSON.stringify(id)} is already disabled`);
      }
      await signalLifecycle(endpoint, { type: 'disable', by: 'disableEndpoint' });
      return waitForStatus(id, 'DISABLED');
    },

    /** Sends the reactivation signal; the lifecycle workflow then delivers the parked messages in order. */
    async reactivate(tenantId: string, id: string): Promise<EndpointDoc> {
      const endpoint = await service.get(tenantId, id);
      if (endpoint.status !== 'DISABLED') {
        throw new UserError(
          'ENDPOINT_NOT_DISABLED',
          `endpoint ${JSON.stringify(id)} is ${endpoint.status}, not DISABLED: only a disabled endpoint can be reactivated`,
        );
      }
      await signalLifecycle(endpoint, { type: 'reactivate', by: 'reactivateEndpoint' });
      return waitForStatus(id, 'ACTIVE');
    },

    /**
     * Deletes the endpoint: its pending and parked deliveries become CANCELLED, the workflows retrying
     * them stop at once, and its lifecycle workflow ends. Its history stays readable through messages.
     */
    async delete(tenantId: string, id: string): Promise<EndpointDoc> {
      const endpoint = await service.get(tenantId, id);
      await db.endpoints.updateOne({ _id: id }, { $set: { deletedAt: now(), updatedAt: now() } });
      const open = await db.deliveries
        .find({ endpointId: id, status: { $in: ['PENDING', 'FAILING', 'PARKED'] } }, { projection: { workflowId: 1, status: 1, messageId: 1, eventType: 1 } })
        .toArray();
      await db.deliveries.updateMany({ endpointId: id, status: { $in: ['PENDING', 'FAILING', 'PARKED'] } }, { $set: { status: 'CANCELLED', updatedAt: now() } });
      await publishLiveEvents(db, endpointDeletedEvents(endpoint, open, now()));
      const retrying = new Set(open.filter((d) => d.status !== 'PARKED').map((d) => d.workflowId));
      await Promise.all([...retrying].map((workflowId) => ignoreClosed(temporal.workflow.getHandle(workflowId).signal(cancelDeliverySignal, { endpointId: id }))));
      await ignoreClosed(temporal.workflow.getHandle(endpointWorkflowId(id)).signal(endpointDeletedSignal));
      return { ...endpoint, deletedAt: now() };
    },

    async events(endpointId: string): Promise<EndpointEventDoc[]> {
      return db.endpointEvents.find({ endpointId }).sort({ at: 1, _id: 1 }).toArray();
    },
  };
  return service;
}

/** A workflow that already finished needs no signal. */
async function ignoreClosed(signal: Promise<void>): Promise<void> {
  try {
    await signal;
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
  }
}

export type EndpointService = ReturnType<typeof createEndpointService>;
