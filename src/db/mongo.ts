import { MongoClient, MongoServerError, type Collection, type Db, type Filter } from 'mongodb';
import type { ApiKeyDoc, AttemptDoc, DeliveryDoc, EndpointDoc, EndpointEventDoc, MaintenanceRunDoc, MessageDoc, NotificationDoc, TenantDoc } from './types';

export interface Collections {
  tenants: Collection<TenantDoc>;
  apiKeys: Collection<ApiKeyDoc>;
  endpoints: Collection<EndpointDoc>;
  messages: Collection<MessageDoc>;
  deliveries: Collection<DeliveryDoc>;
  attempts: Collection<AttemptDoc>;
  endpointEvents: Collection<EndpointEventDoc>;
  notifications: Collection<NotificationDoc>;
  maintenanceRuns: Collection<MaintenanceRunDoc>;
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
    maintenanceRuns: db.collection('maintenanceRuns'),
  };
  await ensureIndexes(collections);
  return { client, db, collections, close: () => client.close() };
}

/**
 * Secondary indexes, one per list query the API offers (README, "MongoDB access"). Lookups on the hot
 * paths (API key, endpoint, message, delivery, attempt) all go by `_id` and need none.
 */
export const INDEXES: { collection: keyof Collections; key: Record<string, 1 | -1>; name: string; serves: string }[] = [
  { collection: 'endpoints', key: { tenantId: 1, createdAt: 1 }, name: 'tenant_created', serves: 'endpoints; routing a message' },
  { collection: 'apiKeys', key: { keyId: 1 }, name: 'key_id', serves: 'revokeApiKey' },
  { collection: 'messages', key: { tenantId: 1, createdAt: -1, _id: -1 }, name: 'tenant_created_id', serves: 'messages, createdAfter/Before' },
  { collection: 'messages', key: { tenantId: 1, eventType: 1, createdAt: -1 }, name: 'tenant_type_created', serves: 'messages by eventTypes' },
  { collection: 'messages', key: { tenantId: 1, occurredAt: -1 }, name: 'tenant_occurred', serves: 'messages, occurredAfter/Before' },
  { collection: 'messages', key: { createdAt: 1 }, name: 'created', serves: 'retention: expired messages' },
  { collection: 'deliveries', key: { tenantId: 1, endpointId: 1, messageCreatedAt: -1 }, name: 'tenant_endpoint_created', serves: 'messages by endpointId' },
  { collection: 'deliveries', key: { tenantId: 1, status: 1, messageCreatedAt: -1 }, name: 'tenant_status_created', serves: 'messages by delivery status' },
  {
    collection: 'deliveries',
    key: { endpointId: 1, status: 1, occurredAt: 1 },
    name: 'endpoint_status_occurred',
    serves: 'parked messages in event order; recoverEndpoint',
  },
  { collection: 'deliveries', key: { status: 1, updatedAt: 1 }, name: 'status_updated', serves: 'reconciliation: open deliveries' },
  { collection: 'deliveries', key: { messageId: 1 }, name: 'message', serves: 'reconciliation: rows of a message never stored' },
  { collection: 'attempts', key: { endpointId: 1, startedAt: -1, _id: -1 }, name: 'endpoint_started_id', serves: 'attempts(endpointId); Endpoint.stats' },
  { collection: 'endpointEvents', key: { endpointId: 1, at: 1 }, name: 'endpoint_at', serves: 'Endpoint.events' },
  { collection: 'endpointEvents', key: { at: 1 }, name: 'at', serves: 'retention: endpoint events' },
  { collection: 'notifications', key: { sentAt: 1 }, name: 'sent', serves: 'retention: notification records' },
  { collection: 'maintenanceRuns', key: { startedAt: -1 }, name: 'started', serves: 'maintenanceRuns' },
];

/** Indexes earlier versions created that nothing reads any more: each costs every write, so they go. */
const OBSOLETE_INDEXES: { collection: keyof Collections; name: string }[] = [
  // Retention found a message's attempts by messageId; it now deletes them by their derived `_id`s.
  { collection: 'attempts', name: 'message' },
];

async function ensureIndexes(c: Collections): Promise<void> {
  for (const index of INDEXES) {
    await (c[index.collection] as Collection<any>).createIndex(index.key, { name: index.name });
  }
  for (const index of OBSOLETE_INDEXES) {
    const collection = c[index.collection] as Collection<any>;
    if ((await collection.indexExists(index.name).catch(() => false)) === true) await collection.dropIndex(index.name);
  }
}

/** MongoDB's error code for a write that collides with a unique index. */
export const DUPLICATE_KEY = 11000;
export const isDuplicateKeyError = (error: unknown): boolean => error instanceof MongoServerError && error.code === DUPLICATE_KEY;

/** Ids per `$in`: one query or delete each. */
const ID_CHUNK = 500;

/**
 * Documents by `_id`, in the order of `ids`, missing ones left out. Each chunk is one `_id: {$in: …}`:
 * on MongoDB, and on FerretDB with Hookflow's patch (tools/ferretdb/patches), lookups in the `_id` index.
 */
export async function findByIds<T extends { _id: string }>(collection: Collection<T>, ids: string[]): Promise<T[]> {
  const byId = new Map<string, T>();
  for (let start = 0; start < ids.length; start += ID_CHUNK) {
    const docs = await collection.find({ _id: { $in: ids.slice(start, start + ID_CHUNK) } } as Filter<T>).toArray();
    for (const doc of docs) byId.set(doc._id, doc as T);
  }
  return ids.map((id) => byId.get(id)).filter((doc): doc is T => doc !== undefined);
}

/** Deletes by `_id`, one `_id: {$in: …}` per chunk; returns how many went. */
export async function deleteByIds<T extends { _id: string }>(collection: Collection<T>, ids: string[]): Promise<number> {
  let deleted = 0;
  for (let start = 0; start < ids.length; start += ID_CHUNK) {
    deleted += (await collection.deleteMany({ _id: { $in: ids.slice(start, start + ID_CHUNK) } } as Filter<T>)).deletedCount;
  }
  return deleted;
}
