import { createHmac, randomBytes } from 'node:crypto';

/** Standard Webhooks signing (https://www.standardwebhooks.com): `v1,` + base64 HMAC-SHA256. */
const SECRET_PREFIX = 'whsec_';

export function generateSecret(bytes = 32): string {
  if (bytes < 24 || bytes > 64) throw new RangeError('secret length must be 24 to 64 bytes');
  return SECRET_PREFIX + randomBytes(bytes).toString('base64');
}

function secretKey(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('signing secret must start with whsec_');
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

/** The value of `webhook-signature` for one message id, unix-seconds timestamp and exact body. */
export function sign(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${messageId}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

export interface WebhookRequest {
  headers: Record<string, string>;
  body: string;
}

/**
 * Builds the POST body and headers of one delivery attempt. Several secrets (during a rotation) give
 * several signatures, space-separated, as the Standard Webhooks specification allows.
 */
export function buildWebhookRequest(args: {
  secrets: string[];
  messageId: string;
  eventType: string;
  occurredAt: Date;
  payload: unknown;
  now: Date;
}): WebhookRequest {
  const body = JSON.stringify({
    id: args.messageId,
    type: args.eventType,
    timestamp: args.occurredAt.toISOString(),
    data: args.payload,
  });
  const timestamp = Math.floor(args.now.getTime() / 1000);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'Hookflow/0.1',
      'message-id': args.messageId,
      'webhook-id': args.messageId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': args.secrets.map((secret) => sign(secret, args.messageId, timestamp, body)).join(' '),
    },
  };
}
