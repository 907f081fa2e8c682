import { createHash } from 'node:crypto';
import { ulid } from 'ulidx';

/** Time-ordered ids with a prefix that names what they identify. */
export const newId = (prefix: 'ten' | 'ep' | 'msg' | 'key') => `${prefix}_${ulid().toLowerCase()}`;

/** A message id derived from a tenant's idempotency key: a second insert under it collides on `_id`. */
export const idempotentMessageId = (tenantId: string, key: string) => `msg_k${createHash('sha256').update(`${tenantId}\n${key}`).digest('hex').slice(0, 32)}`;

export const sha256Hex = (value: string) => createHash('sha256').update(value).digest('hex');
