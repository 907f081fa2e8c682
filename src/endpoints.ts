import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Collections } from './db/mongo';
import type { EndpointDoc, EndpointEventDoc } from './db/types';
import { notFound, UserError } from './errors';
import { newId } from './ids';
import { pageSize } from './paging';
import type { SecretBox } from './secret-box';
import { assertUrlAllowed, type UrlPolicy } from './webhooks/url-guard';
import { recordedLifecycleState, startEndpointWorkflow } from './starts';
import { generateSecret } from './webhooks/signing';
import { parseCreateEndpoint, parseUpdateEndpoint } from './validation';
import { cancelDeliverySignal, disableUpdate, endpointDeletedSignal, endpointWorkflowId, reactivateUpdate } from '../workflows/definitions';
import { createStore } from './store';
import { recordDelivery } from './observability/metrics';
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
}

export function createEndpointService({ db, secretBox, urlPolicy, rotationOverlapMs, temporal, taskQueue, now = () => new Date() }: EndpointServiceDeps) {
  const store = createStore(db, now);
  const startLifecycle = (endpoint: EndpointDoc) => startEndpointWorkflow(temporal, taskQueue, endpoint);

  /**
   * disableEndpoint and reactivateEndpoint are Updates of the endpoint's lifecycle workflow, which owns
   * the status: its validator refuses a change that does not apply before anything is written, and the
   * answer comes once the new status is recorded. A lifecycle workflow that was lost is started again
   * from what MongoDB recorded.
   */
  const updateLifecycle = async (endpoint: EndpointDoc, update: typeof disableUpdate, by: string): Promise<EndpointDoc> => {
    const handle = temporal.workflow.getHandle(endpointWorkflowId(endpoint._id));
    const run = () => handle.executeUpdate(update, { args: [{ by }] });
    try {
      await run().catch(async (error) => {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
        await startEndpointWorkflow(temporal, taskQueue, endpoint, await recordedLifecycleState(store, endpoint));
        return run();
      });
    } catch (error) {
      const cause = error instanceof WorkflowUpdateFailedError ? error.cause : undefined;
      if (cause instanceof ApplicationFailure && (cause.type === 'ENDPOINT_NOT_DISABLED' || cause.type === 'ENDPOINT_ALREADY_DISABLED')) {
        throw new UserError(cause.type, `endpoint ${JSON.stringify(endpoint._id)} ${cause.message}`);
      }
      throw error;
    }
    return (await store.endpoints.get(endpoint._id))!;
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
      await store.endpoints.insert(endpoint);
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
      const kept = endpoint.secrets.map((s) => (s.expiresAt === null ? { ...s, expiresAt: previousSecretExpiresAt } : s)).filter((s) => s.expiresAt! > at);
      const secrets = [{ sealed: secretBox.seal(secret), expiresAt: null }, ...kept];
      await store.endpoints.setSecrets(id, secrets);
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
      await store.endpoints.updateFields(id, fields);
      return (await store.endpoints.get(id))!;
    },

    async disable(tenantId: string, id: string): Promise<EndpointDoc> {
      return updateLifecycle(await service.get(tenantId, id), disableUpdate, 'disableEndpoint');
    },

    /** Reactivates the endpoint; its redelivery then posts the parked messages in event order. */
    async reactivate(tenantId: string, id: string): Promise<EndpointDoc> {
      return updateLifecycle(await service.get(tenantId, id), reactivateUpdate, 'reactivateEndpoint');
    },

    /**
     * Deletes the endpoint: its pending and parked deliveries become CANCELLED, the workflows retrying
     * them stop at once, and its lifecycle workflow ends. Its history stays readable through messages.
     */
    async delete(tenantId: string, id: string): Promise<EndpointDoc> {
      const endpoint = await service.get(tenantId, id);
      const deletedAt = await store.endpoints.markDeleted(id);
      const cancelled = await store.deliveries.cancelOpenOfEndpoint(id);
      recordDelivery('cancelled', cancelled.length);
      await publishLiveEvents(db, endpointDeletedEvents(endpoint, cancelled, deletedAt));
      // The endpoint's redelivery needs no signal: its next attempt finds the delivery cancelled.
      const deliveryRuns = new Set(cancelled.filter((d) => d.status !== 'PARKED' && d.workflowId.startsWith('deliver-')).map((d) => d.workflowId));
      await Promise.all(
        [...deliveryRuns].map((workflowId) => ignoreClosed(temporal.workflow.getHandle(workflowId).signal(cancelDeliverySignal, { endpointId: id }))),
      );
      await ignoreClosed(temporal.workflow.getHandle(endpointWorkflowId(id)).signal(endpointDeletedSignal));
      return { ...endpoint, deletedAt };
    },

    /** Oldest first, by keyset on (at, _id) after the event `after`: an index range on endpoint_at. */
    async events(endpointId: string, first?: number | null, after?: string | null): Promise<EndpointEventDoc[]> {
      const size = pageSize(first, 100);
      let range = {};
      if (after) {
        const from = await db.endpointEvents.findOne({ _id: after });
        if (!from || from.endpointId !== endpointId) throw new UserError('INVALID_CURSOR', "after: not the id of one of this endpoint's events", 'after');
        range = { $or: [{ at: { $gt: from.at } }, { at: from.at, _id: { $gt: from._id } }] };
      }
      return db.endpointEvents
        .find({ endpointId, ...range })
        .sort({ at: 1, _id: 1 })
        .limit(size)
        .toArray();
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
