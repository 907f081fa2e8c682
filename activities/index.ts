import type { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Collections } from '../src/db/mongo';
import { attemptId, deliveryId } from '../src/db/types';
import { buildWebhookRequest } from '../src/webhooks/signing';
import { postWebhook } from '../src/webhooks/http-post';
import { deliveryStatusAfterAttempt } from '../workflows/delivery-status';
import type { AttemptDeliveryInput, AttemptOutcome } from '../workflows/delivery-types';

export interface ActivityDeps {
  db: Collections;
  http: { agent: Agent; timeoutMs: number; bodyLimit: number };
  log: Logger;
  now?: () => Date;
}

/** Activities are built once per worker over clients it owns; workflows type them from this factory. */
export function createActivities({ db, http, log, now = () => new Date() }: ActivityDeps) {
  return {
    /**
     * Posts one signed attempt of a message to an endpoint and records it. Safe to repeat: the attempt
     * and the delivery are written under ids derived from the message, endpoint and attempt number.
     */
    async attemptDelivery(input: AttemptDeliveryInput): Promise<AttemptOutcome> {
      const [endpoint, message] = await Promise.all([
        db.endpoints.findOne({ _id: input.endpointId }),
        db.messages.findOne({ _id: input.messageId }),
      ]);
      if (!message) return { kind: 'gone', why: 'message deleted' };
      if (!endpoint) {
        await db.deliveries.updateOne(
          { _id: deliveryId(message._id, input.endpointId) },
          {
            $set: { status: 'CANCELLED', updatedAt: now(), workflowId: input.workflowId },
            $setOnInsert: { tenantId: message.tenantId, messageId: message._id, endpointId: input.endpointId, attemptCount: 0, lastAttemptAt: null, createdAt: now() },
          },
          { upsert: true },
        );
        return { kind: 'gone', why: 'endpoint deleted' };
      }

      const startedAt = now();
      const webhook = buildWebhookRequest({
        secret: endpoint.secret,
        messageId: message._id,
        eventType: message.eventType,
        occurredAt: message.occurredAt,
        payload: message.payload,
        now: startedAt,
      });
      const started = performance.now();
      const result = await postWebhook(http.agent, endpoint.url, webhook.headers, webhook.body, http);
      const durationMs = Math.round(performance.now() - started);

      const id = deliveryId(message._id, endpoint._id);
      const status = deliveryStatusAfterAttempt(endpoint.retryPolicy, input.number, result.ok);
      await db.attempts.replaceOne(
        { _id: attemptId(id, input.number) },
        {
          tenantId: message.tenantId,
          messageId: message._id,
          endpointId: endpoint._id,
          deliveryId: id,
          number: input.number,
          startedAt,
          durationMs,
          statusCode: result.statusCode,
          responseBody: result.body,
          error: result.ok ? null : result.error,
          succeeded: result.ok,
        },
        { upsert: true },
      );
      await db.deliveries.updateOne(
        { _id: id },
        {
          $set: { status, attemptCount: input.number + 1, lastAttemptAt: startedAt, updatedAt: now(), workflowId: input.workflowId },
          $setOnInsert: { tenantId: message.tenantId, messageId: message._id, endpointId: endpoint._id, createdAt: startedAt },
        },
        { upsert: true },
      );
      log.debug({ messageId: message._id, endpointId: endpoint._id, attempt: input.number, ok: result.ok, durationMs }, 'attempt recorded');

      if (result.ok) return { kind: 'acknowledged', statusCode: result.statusCode };
      return {
        kind: 'failed',
        reason: result.reason,
        statusCode: result.statusCode,
        error: result.error,
        retryPolicy: endpoint.retryPolicy,
        ...(result.retryAfterMs === undefined ? {} : { retryAfterMs: result.retryAfterMs }),
      };
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
