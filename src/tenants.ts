import { randomBytes } from 'node:crypto';
import type { Collections } from './db/mongo';
import { isDuplicateKeyError } from './db/mongo';
import { newId, sha256Hex } from './ids';

export const DEFAULT_TENANT_ID = 'ten_default';

export const generateApiKey = () => `hf_${randomBytes(24).toString('base64url')}`;

export function createTenantService(db: Collections, now: () => Date = () => new Date()) {
  return {
    /** The tenant a key belongs to, or null for an unknown or revoked key. One `_id` lookup. */
    async authenticate(apiKey: string): Promise<string | null> {
      const key = await db.apiKeys.findOne({ _id: sha256Hex(apiKey) });
      return key && !key.revokedAt ? key.tenantId : null;
    },

    /** Creates the first tenant if needed and makes `apiKey` one of its keys. Idempotent. */
    async ensureDefaultTenant(apiKey: string): Promise<void> {
      await db.tenants.updateOne(
        { _id: DEFAULT_TENANT_ID },
        { $setOnInsert: { name: 'default', createdAt: now() } },
        { upsert: true },
      );
      try {
        await db.apiKeys.insertOne({ _id: sha256Hex(apiKey), tenantId: DEFAULT_TENANT_ID, createdAt: now() });
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
    },

    /** A new tenant with one key; the key is returned here only, its hash is what is stored. */
    async createTenant(name: string): Promise<{ tenantId: string; apiKey: string }> {
      const tenantId = newId('ten');
      const apiKey = generateApiKey();
      await db.tenants.insertOne({ _id: tenantId, name, createdAt: now() });
      await db.apiKeys.insertOne({ _id: sha256Hex(apiKey), tenantId, createdAt: now() });
      return { tenantId, apiKey };
    },

    async hasTenants(): Promise<boolean> {
      return (await db.tenants.countDocuments({}, { limit: 1 })) > 0;
    },
  };
}

export type TenantService = ReturnType<typeof createTenantService>;
