/**
 * hookflow/receiver: what a service that receives Hookflow's webhooks needs. It stands alone: no
 * Temporal, no Hookflow server code, and no database driver of its own (stores take the caller's).
 */
export { verifyWebhook, WebhookVerificationError } from './verify';
export type { WebhookMessage, VerificationFailure, VerifyOptions, HeaderBag } from './verify';
export { createWebhookHandler, defaultRetryDelayMs } from './handler';
export type { WebhookHandler, WebhookHandlerOptions, ProcessFn } from './handler';
export type { ReceiverStore, ReceivedMessage, ReceivedStatus, Claim, ProcessContext } from './store';
export { createMemoryStore } from './stores/memory';
export { createMongoStore } from './stores/mongo';
export type { MongoStoreOptions } from './stores/mongo';
export { createPostgresStore } from './stores/postgres';
export type { PostgresStoreOptions } from './stores/postgres';
export { reconcile, ReconcileError } from './reconcile';
export type { ReconcileOptions, ReconcileResult } from './reconcile';
export { inEventOrder, StaleEventError } from './ordering';
export type { InEventOrderOptions } from './ordering';
export { expressWebhook, fastifyWebhook } from './adapters';
