import { MongoClient, MongoServerError, type Collection, type Db } from 'mongodb';
import type { ApiKeyDoc, AttemptDoc, DeliveryDoc, EndpointDoc, EndpointEventDoc, MessageDoc, NotificationDoc, TenantDoc } from './types';

export interface Collections {
  tenants: Collection<TenantDoc>;
  apiKeys: Collection<ApiKeyDoc>;
  endpoints: Collection<EndpointDoc>;
  messages: Collection<MessageDoc>;
  deliveries: Collection<DeliveryDoc>;
  attempts: Collection<AttemptDoc>;
  endpointEvents: Collection<EndpointEventDoc>;
  notifications: Collection<NotificationDoc>;
}

export interface Mongo {
  client: MongoClient;
  db: Db;
  collections: Collections;
  close(): Promise<void>;
}

export async function connectMongo(uri: string, dbName: string): Promise<Mongo> {
  const client = new MongoClient(uri, {
    // A MongoDB-protocol server that is restarting should stall requests briefly, not fail them at once.
    serverSelectionTimeoutMS: 10_000,
    appName: 'hookflow',
  });
  await client.connect();
  const db = client.db(dbName);
  const collections: Collections = {
    tenants: db.collection('tenants'),
    apiKeys: db.collection('apiKeys'),
    endpoints: db.collection('endpoints'),
    messages: db.collection('messages'),
    deliveries: db.collection('deliveries'),
    attempts: db.collection('attempts'),
    endpointEvents: db.collection('endpointEvents'),
    notifications: db.collection('notifications'),
  };
  await ensureIndexes(collections);
  return { client, db, collections, close: () => client.close() };
}

/**
 * Secondary indexes for the list queries. Lookups on the hot paths (API key, endpoint, message,
 * delivery, attempt) all go by `_id` and need none.
 */
async function ensureIndexes(c: Collections): Promise<void> {
  await c.endpoints.createIndex({ tenantId: 1, createdAt: 1 }, { name: 'tenant_created' });
  await c.messages.createIndex({ tenantId: 1, createdAt: -1 }, { name: 'tenant_created' });
  await c.attempts.createIndex({ endpointId: 1, startedAt: -1 }, { name: 'endpoint_started' });
  await c.deliveries.createIndex({ endpointId: 1, status: 1, occurredAt: 1 }, { name: 'endpoint_status_occurred' });
  await c.endpointEvents.createIndex({ endpointId: 1, at: 1 }, { name: 'endpoint_at' });
}

export const isDuplicateKeyError = (error: unknown): boolean =>
  error instanceof MongoServerError && error.code === 11000;
