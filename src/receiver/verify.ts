import { createHmac, timingSafeEqual } from 'node:crypto';

/** A verified webhook: the message id from `webhook-id`, and the Standard Webhooks payload fields. */
export interface WebhookMessage {
  id: string;
  /** The payload's `type`; null when the signed body has none (Standard Webhooks does not enforce it). */
  type: string | null;
  /** The payload's `timestamp` (when the event happened, ISO-8601); the `webhook-timestamp` if it has none. */
  timestamp: string;
  data: unknown;
}

/** `invalid_payload`: correctly signed, but not JSON (the library refuses it too, with a SyntaxError). */
export type VerificationFailure = 'missing_header' | 'bad_signature' | 'timestamp_too_old' | 'timestamp_in_future' | 'invalid_payload';

export class WebhookVerificationError extends Error {
  constructor(
    readonly reason: VerificationFailure,
    message: string,
  ) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

export type HeaderBag = Record<string, string | string[] | undefined> | Headers;

export interface VerifyOptions {
  headers: HeaderBag;
  /** The body exactly as received: re-serialized JSON would not match the signature. */
  body: string | Buffer;
  /** `whsec_…` secrets (the prefix is optional); several during a rotation, any one may have signed. */
  secrets: string | readonly string[];
  toleranceSeconds?: number;
  /** Milliseconds since the epoch; for tests. */
  now?: number;
}

const SECRET_PREFIX = 'whsec_';

function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  // Node lower-cases incoming names, but a plain object from elsewhere may not be.
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(', ') : value;
  }
  return undefined;
}

export function secretKey(secret: string): Buffer {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  if (key.length === 0) throw new Error('webhook secret is empty');
  return key;
}

/**
 * Verifies a Standard Webhooks request and returns its message. It accepts what the `standardwebhooks`
 * library accepts (test/receiver/verify.test.ts compares the two on the same inputs), in the same
 * order of checks: headers, then the timestamp, then the signatures. What it adds: several secrets,
 * a configurable tolerance, and a reason on every failure.
 */
export function verifyWebhook(options: VerifyOptions): WebhookMessage {
  const { headers, secrets, toleranceSeconds = 300 } = options;
  const id = header(headers, 'webhook-id');
  const signatures = header(headers, 'webhook-signature');
  const timestampHeader = header(headers, 'webhook-timestamp');
  if (!id || !signatures || !timestampHeader) {
    throw new WebhookVerificationError('missing_header', 'webhook-id, webhook-timestamp and webhook-signature are required');
  }
  // parseInt, not Number: the library reads "1700000000abc" as 1700000000, and so must we.
  const timestamp = parseInt(timestampHeader, 10);
  if (Number.isNaN(timestamp)) throw new WebhookVerificationError('missing_header', 'webhook-timestamp is not a number');
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (now - timestamp > toleranceSeconds) {
    throw new WebhookVerificationError('timestamp_too_old', `webhook-timestamp is more than ${toleranceSeconds} s old`);
  }
  if (timestamp > now + toleranceSeconds) {
    throw new WebhookVerificationError('timestamp_in_future', `webhook-timestamp is more than ${toleranceSeconds} s ahead`);
  }

  const body = typeof options.body === 'string' ? options.body : options.body.toString('utf8');
  const signed = `${id}.${timestamp}.${body}`;
  const expected = (Array.isArray(secrets) ? secrets : [secrets as string]).map((secret) =>
    Buffer.from(createHmac('sha256', secretKey(secret)).update(signed).digest('base64')),
  );
  const matches = signatures.split(' ').some((versioned) => {
    const [version, signature] = versioned.split(',');
    if (version !== 'v1' || signature === undefined) return false;
    const given = Buffer.from(signature);
    // Every secret is compared, so the time taken does not tell which one matched.
    return expected.reduce((found, mac) => (mac.length === given.length && timingSafeEqual(mac, given)) || found, false);
  });
  if (!matches) throw new WebhookVerificationError('bad_signature', 'no webhook-signature matches a secret');

  return toMessage(id, timestamp, body);
}

function toMessage(id: string, timestampSeconds: number, body: string): WebhookMessage {
  // The library returns undefined for an empty body and JSON.parse's result otherwise.
  let payload: unknown;
  try {
    payload = body === '' ? undefined : JSON.parse(body);
  } catch {
    throw new WebhookVerificationError('invalid_payload', 'the signed body is not JSON');
  }
  const fields = typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? (payload as Record<string, unknown>) : {};
  return {
    id,
    type: typeof fields.type === 'string' ? fields.type : null,
    timestamp: typeof fields.timestamp === 'string' ? fields.timestamp : new Date(timestampSeconds * 1000).toISOString(),
    data: 'data' in fields ? fields.data : payload,
  };
}
