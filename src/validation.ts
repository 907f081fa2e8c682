import { z } from 'zod';
import { UserError, type ErrorCode } from './errors';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../workflows/retry-schedule';

const EVENT_TYPE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const SEVEN_DAYS_MS = 7 * 24 * 60 * 60_000;

/** Parses with zod and turns the first problem into a UserError with the field's own code. */
function parse<T>(schema: z.ZodType<T>, value: unknown, codeFor: (field: string) => ErrorCode): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.join('.');
  throw new UserError(codeFor(String(issue.path[0] ?? '')), field ? `${field}: ${issue.message}` : issue.message, field);
}

export const eventTypeSchema = z
  .string()
  .max(128, 'event type must be at most 128 characters')
  .regex(EVENT_TYPE, "event type must be dot-separated words of letters, digits, '_' or '-', e.g. order.created");

export const endpointUrlSchema = z
  .string()
  .max(2048, 'URL must be at most 2048 characters')
  .refine((raw) => URL.canParse(raw), 'must be an absolute URL, e.g. https://example.com/webhooks')
  .refine((raw) => !URL.canParse(raw) || ['http:', 'https:'].includes(new URL(raw).protocol), 'must use http or https')
  .refine((raw) => !URL.canParse(raw) || (new URL(raw).username === '' && new URL(raw).password === ''), 'must not contain a user name or password');

const retryPolicyFields = z
  .object({
    retriesUntilFailure: z.number().int().min(0).max(100).nullish(),
    maxRetries: z.number().int().min(0).max(100).nullish(),
    initialIntervalMs: z.number().int().min(1).max(SEVEN_DAYS_MS).nullish(),
    backoffCoefficient: z.number().min(1).max(10).nullish(),
    maxIntervalMs: z.number().int().min(1).max(SEVEN_DAYS_MS).nullish(),
    jitter: z.number().min(0).max(1).nullish(),
  })
  .nullish();

/** A policy input laid over `base`: fields left out keep their value there. */
const retryPolicyOver = (base: RetryPolicy) =>
  retryPolicyFields
    .transform((input): RetryPolicy => {
      const merged = { ...base };
      for (const [key, value] of Object.entries(input ?? {})) {
        if (value !== null && value !== undefined) (merged as Record<string, number>)[key] = value;
      }
      return merged;
    })
    .refine((p) => p.retriesUntilFailure <= p.maxRetries, 'retriesUntilFailure must not exceed maxRetries')
    .refine((p) => p.initialIntervalMs <= p.maxIntervalMs, 'initialIntervalMs must not exceed maxIntervalMs');

const eventTypesSchema = z.array(eventTypeSchema).max(100);
const emailsSchema = z.array(z.email('must be an email address')).max(20);
const phonesSchema = z.array(z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be a phone number in E.164 form, e.g. +33612345678')).max(20);

const createEndpointSchema = z.object({
  url: endpointUrlSchema,
  eventTypes: eventTypesSchema.nullish().transform((v) => [...new Set(v ?? [])]),
  description: z
    .string()
    .max(1000)
    .nullish()
    .transform((v) => v ?? null),
  retryPolicy: retryPolicyOver(DEFAULT_RETRY_POLICY),
  notifyEmails: emailsSchema.nullish().transform((v) => v ?? []),
  notifyPhones: phonesSchema.nullish().transform((v) => v ?? []),
});

export type CreateEndpointFields = z.infer<typeof createEndpointSchema>;

const endpointCodes: Record<string, ErrorCode> = {
  url: 'INVALID_URL',
  eventTypes: 'INVALID_EVENT_TYPE',
  retryPolicy: 'INVALID_RETRY_POLICY',
  notifyEmails: 'INVALID_CONTACT',
  notifyPhones: 'INVALID_CONTACT',
};

export const parseCreateEndpoint = (input: unknown): CreateEndpointFields =>
  parse(createEndpointSchema, input, (field) => endpointCodes[field] ?? 'INVALID_INPUT');

/** Only the fields given change; null or absent leaves a field as it is. */
export function parseUpdateEndpoint(input: unknown, currentPolicy: RetryPolicy): Partial<CreateEndpointFields> {
  const schema = z.object({
    url: endpointUrlSchema.nullish(),
    eventTypes: eventTypesSchema.nullish().transform((v) => (v ? [...new Set(v)] : v)),
    description: z.string().max(1000).nullish(),
    retryPolicy: retryPolicyFields,
    notifyEmails: emailsSchema.nullish(),
    notifyPhones: phonesSchema.nullish(),
  });
  const fields = parse(schema, input, (field) => endpointCodes[field] ?? 'INVALID_INPUT');
  const changes: Partial<CreateEndpointFields> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value !== null && value !== undefined && key !== 'retryPolicy') (changes as Record<string, unknown>)[key] = value;
  }
  if (fields.retryPolicy) {
    changes.retryPolicy = parse(retryPolicyOver(currentPolicy), fields.retryPolicy, () => 'INVALID_RETRY_POLICY');
  }
  return changes;
}

export interface SendMessageFields {
  eventType: string;
  payload: Record<string, unknown>;
  payloadBytes: number;
  idempotencyKey: string | null;
  occurredAt: Date | null;
  orderingKey: string | null;
}

export function parseSendMessage(
  input: { eventType: string; payload: unknown; idempotencyKey?: string | null; occurredAt?: Date | null; orderingKey?: string | null },
  maxPayloadBytes: number,
): SendMessageFields {
  const eventType = parse(eventTypeSchema, input.eventType, () => 'INVALID_EVENT_TYPE');
  const { payload } = input;
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    const got = payload === null ? 'null' : Array.isArray(payload) ? 'an array' : `a ${typeof payload}`;
    throw new UserError(
      'INVALID_PAYLOAD',
      `payload must be a JSON object, got ${got}${typeof payload === 'string' ? ' (send the object itself, not its JSON text)' : ''}`,
      'payload',
    );
  }
  const unstorable = unstorablePart(payload, 'payload', 1);
  if (unstorable) throw new UserError('INVALID_PAYLOAD', unstorable, 'payload');
  const payloadBytes = Buffer.byteLength(JSON.stringify(payload), 'utf8');
  if (payloadBytes > maxPayloadBytes) {
    throw new UserError('PAYLOAD_TOO_LARGE', `payload is ${payloadBytes} bytes as JSON; the limit is ${maxPayloadBytes} bytes`, 'payload');
  }
  const idempotencyKey = input.idempotencyKey ?? null;
  if (idempotencyKey !== null && (idempotencyKey.length < 1 || idempotencyKey.length > 255)) {
    throw new UserError('INVALID_INPUT', 'idempotencyKey must be 1 to 255 characters', 'idempotencyKey');
  }
  const orderingKey = input.orderingKey ?? null;
  if (orderingKey !== null && (orderingKey.length < 1 || orderingKey.length > 256)) {
    throw new UserError('INVALID_ORDERING_KEY', `orderingKey must be 1 to 256 characters, got ${orderingKey.length}`, 'orderingKey');
  }
  return { eventType, payload: payload as Record<string, unknown>, payloadBytes, idempotencyKey, occurredAt: input.occurredAt ?? null, orderingKey };
}

/** Nesting MongoDB stores (it allows 100 levels in all; the message document adds its own). */
export const MAX_PAYLOAD_DEPTH = 64;

/**
 * Why a payload cannot be stored as a MongoDB document, or null. Checked before anything is written:
 * MongoDB refuses a key with a NUL byte and nesting past its limit, and the MongoDB-protocol servers
 * Hookflow supports (FerretDB) refuse keys that start with `$` or contain `.`.
 */
function unstorablePart(value: unknown, path: string, depth: number): string | null {
  if (value === null || typeof value !== 'object') return null;
  if (depth > MAX_PAYLOAD_DEPTH) return `${path}: nested deeper than ${MAX_PAYLOAD_DEPTH} levels`;
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  for (const [key, child] of entries) {
    if (!Array.isArray(value)) {
      const shown = JSON.stringify(key);
      if (key.includes('\u0000')) return `${path}: the key ${shown} contains a NUL character`;
      if (key.startsWith('$')) return `${path}: the key ${shown} starts with "$", which MongoDB reserves for operators`;
      if (key.includes('.')) return `${path}: the key ${shown} contains ".", which MongoDB reads as a path`;
    }
    const found = unstorablePart(child, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`, depth + 1);
    if (found) return found;
  }
  return null;
}
