import { randomBytes } from 'node:crypto';
import type { Collections } from './db/mongo';
import { isDuplicateKeyError } from './db/mongo';
import type { ApiKeyDoc, TenantDoc } from './db/types';
import { notFound, UserError } from './errors';
import { newId, sha256Hex } from './ids';

export const DEFAULT_TENANT_ID = 'ten_default';

export const generateApiKey = () => `hf_${randomBytes(24).toString('base64url')}`;

export interface NewApiKey {
  id: string;
  tenantId: string;
  /** Shown once: only its SHA-256 is stored. */
  key: string;
  createdAt: Date;
}

export function createTenantService(db: Collections, now: () => Date = () => new Date()) {
  async function insertKey(tenantId: string, key: string): Promise<NewApiKey> {
    const doc: ApiKeyDoc = { _id: sha256Hex(key), keyId: newId('key'), tenantId, createdAt: now() };
    await db.apiKeys.insertOne(doc);
    return { id: doc.keyId, tenantId, key, createdAt: doc.createdAt };
  }

  return {
    /** The tenant a key belongs to, or null for an unknown or revoked key. One `_id` lookup, no cache. */
    async authenticate(apiKey: string): Promise<string | null> {
      const key = await db.apiKeys.findOne({ _id: sha256Hex(apiKey) });
      return key && !key.revokedAt ? key.tenantId : null;
    },

    /** Creates the first tenant if needed and makes `apiKey` one of its keys. Idempotent. */
    async ensureDefaultTenant(apiKey: string): Promise<void> {
      await db.tenants.updateOne({ _id: DEFAULT_TENANT_ID }, { $setOnInsert: { name: 'default', createdAt: now() } }, { upsert: true });
      try {
        await insertKey(DEFAULT_TENANT_ID, apiKey);
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
    },

    async hasTenants(): Promise<boolean> {
      return (await db.tenants.countDocuments({}, { limit: 1 })) > 0;
    },

    /** A new tenant with one key; the key is returned here only. */
    async createTenant(name: string): Promise<{ tenant: TenantDoc; apiKey: NewApiKey; tenantId: string }> {
      const trimmed = name.trim();
      if (trimmed.length < 1 || trimmed.length > 200) throw new UserError('INVALID_INPUT', 'name must be 1 to 200 characters', 'name');
      const tenant: TenantDoc = { _id: newId('ten'), name: trimmed, createdAt: now() };
      await db.tenants.insertOne(tenant);
      return { tenant, apiKey: await insertKey(tenant._id, generateApiKey()), tenantId: tenant._id };
    },

    async listTenants(): Promise<TenantDoc[]> {
      return db.tenants.find({}).sort({ createdAt: 1, _id: 1 }).limit(1000).toArray();
    },

    async createApiKey(tenantId: string): Promise<NewApiKey> {
      if (!(await db.tenants.findOne({ _id: tenantId }))) throw notFound('tenant', tenantId);
      return insertKey(tenantId, generateApiKey());
    },

    /** Refused from the next request on: authentication reads the key on every request. */
    async revokeApiKey(keyId: string): Promise<ApiKeyDoc> {
      const key = await db.apiKeys.findOne({ keyId });
      if (!key) throw notFound('API key', keyId);
      if (!key.revokedAt) await db.apiKeys.updateOne({ _id: key._id }, { $set: { revokedAt: now() } });
      return (await db.apiKeys.findOne({ _id: key._id }))!;
    },

    async listApiKeys(tenantId: string): Promise<ApiKeyDoc[]> {
      return db.apiKeys.find({ tenantId }).sort({ createdAt: 1 }).toArray();
    },
  };
}

export type TenantService = ReturnType<typeof createTenantService>;
