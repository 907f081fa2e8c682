import type { Collections } from './db/mongo';
import type { EndpointDoc } from './db/types';
import { notFound } from './errors';
import { newId } from './ids';
import { generateSecret } from './webhooks/signing';
import { parseCreateEndpoint } from './validation';

export function createEndpointService(db: Collections, now: () => Date = () => new Date()) {
  return {
    async create(tenantId: string, input: unknown): Promise<{ endpoint: EndpointDoc; secret: string }> {
      const fields = parseCreateEndpoint(input);
      const at = now();
      const endpoint: EndpointDoc = {
        _id: newId('ep'),
        tenantId,
        ...fields,
        secret: generateSecret(),
        status: 'ACTIVE',
        createdAt: at,
        updatedAt: at,
      };
      await db.endpoints.insertOne(endpoint);
      return { endpoint, secret: endpoint.secret };
    },

    /** Another tenant's endpoint is reported as not found, exactly like a missing one. */
    async get(tenantId: string, id: string): Promise<EndpointDoc> {
      const endpoint = await db.endpoints.findOne({ _id: id });
      if (!endpoint || endpoint.tenantId !== tenantId) throw notFound('endpoint', id);
      return endpoint;
    },

    async findById(id: string): Promise<EndpointDoc | null> {
      return db.endpoints.findOne({ _id: id });
    },

    async list(tenantId: string): Promise<EndpointDoc[]> {
      return db.endpoints.find({ tenantId }).sort({ createdAt: 1, _id: 1 }).toArray();
    },

    /** The tenant's endpoints subscribed to an event type (no event types = all). */
    async matching(tenantId: string, eventType: string): Promise<EndpointDoc[]> {
      return db.endpoints
        .find({ tenantId, $or: [{ eventTypes: eventType }, { eventTypes: { $size: 0 } }] }, { projection: { _id: 1 } })
        .sort({ createdAt: 1, _id: 1 })
        .toArray();
    },
  };
}

export type EndpointService = ReturnType<typeof createEndpointService>;
