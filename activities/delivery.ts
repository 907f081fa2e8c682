/**
 * Where a delivery is attempted and recorded: one signed POST, its attempt record and the delivery's
 * status, which follows the same decision the workflow takes (workflows/delivery-decision.ts).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { LRUCache } from 'lru-cache';
import type { Agent } from 'undici';
import type { Logger } from 'pino';
import { deliveryId, attemptId, type AttemptDoc, type EndpointDoc, type MessageDoc } from '../src/db/types';
import type { Collections } from '../src/db/mongo';
import { attemptEvent, deliveryStatusEvent, messageDeliveryStatusEvent, publishLiveEvents } from '../src/live';
import type { Store } from '../src/store';
import type { AttemptRefusal } from '../src/store/deliveries';
import type { SecretBox } from '../src/secret-box';
import { buildWebhookRequest } from '../src/webhooks/signing';
import { postWebhook, type PostResult } from '../src/webhooks/http-post';
import { blockedTarget, type UrlPolicy } from '../src/webhooks/url-guard';
import { decideNextStep } from '../workflows/delivery-decision';
import type { AttemptDeliveryInput, AttemptOutcome, ParkedDelivery } from '../workflows/delivery-types';
import { NON_RETRYABLE_FAILURES } from '../workflows/failure-types';
import { recordAttemptMetrics, recordDelivery } from '../src/observability/metrics';

export interface DeliveryActivityDeps {
  /** For the live events published as attempts are recorded (src/live). */
  db: Collections;
  store: Store;
  secretBox: SecretBox;
  urlPolicy: UrlPolicy;
  /** Requests this worker keeps in flight to one endpoint at most, so a slow receiver holds few slots. */
  maxInFlightPerEndpoint: number;
  http: { agent: Agent; timeoutMs: number; bodyLimit: number };
  log: Logger;
  now: () => Date;
}

/** How long a worker keeps a message it delivers, and how many payload bytes it keeps at most. */
const MESSAGE_CACHE = { ttlMs: 30_000, maxBytes: 64 * 1024 * 1024 };

/** Per-endpoint in-flight slots of this worker; a waiter is woken when a slot frees. */
function createSlots(max: number) {
  const busy = new Map<string, number>();
  const waiters = new Map<string, (() => void)[]>();
  const tryTake = (key: string) => {
    const n = busy.get(key) ?? 0;
    if (n >= max) return false;
    busy.set(key, n + 1);
    return true;
  };
  return {
    tryTake,
    /** Waits for a slot, calling `beat` every second so that the activity's heartbeat goes on. */
    async take(key: string, beat: () => void): Promise<void> {
      while (!tryTake(key)) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, 1000);
          function done() {
            clearTimeout(timer);
            resolve();
          }
          waiters.set(key, [...(waiters.get(key) ?? []), done]);
        });
        beat();
      }
    },
    release(key: string) {
      const left = (busy.get(key) ?? 1) - 1;
      if (left === 0) busy.delete(key);
      else busy.set(key, left);
      const next = waiters.get(key)?.shift();
      if (waiters.get(key)?.length === 0) waiters.delete(key);
      next?.();
    },
  };
}

export function createDeliveryActivities(deps: DeliveryActivityDeps) {
  const { db, store, http, log, now, secretBox, urlPolicy } = deps;
  const slots = createSlots(deps.maxInFlightPerEndpoint);
  /**
   * A stored message never changes, so the attempts of a message fanned out to many endpoints read it
   * once, not once each; concurrent reads of one message share one query. A message deleted by
   * retention (after a week) can still be posted for at most ttlMs after its deletion.
   */
  const messages = new LRUCache<string, MessageDoc>({
    ttl: MESSAGE_CACHE.ttlMs,
    maxSize: MESSAGE_CACHE.maxBytes,
    sizeCalculation: (message) => Math.max(1, JSON.stringify(message.payload)?.length ?? 1),
    fetchMethod: async (id) => (await store.messages.get(id)) ?? undefined,
  });

  const openSecrets = (endpoint: EndpointDoc, at: Date): string[] => {
    try {
      return endpoint.secrets.filter((s) => s.expiresAt === null || s.expiresAt > at).map((s) => secretBox.open(s.sealed));
    } catch (error) {
      throw ApplicationFailure.create({
        type: NON_RETRYABLE_FAILURES.SECRET_UNREADABLE,
        nonRetryable: true,
        message: `the signing secret of endpoint ${endpoint._id} cannot be decrypted: is HOOKFLOW_ENCRYPTION_KEY the key it was sealed with? (${(error as Error).message})`,
        // The workflow applies the endpoint's own retry policy to this failed attempt.
        details: [endpoint.retryPolicy],
      });
    }
  };

  async function post(endpoint: EndpointDoc, message: MessageDoc, secrets: string[], startedAt: Date): Promise<PostResult> {
    const webhook = buildWebhookRequest({
      secrets,
      messageId: message._id,
      eventType: message.eventType,
      occurredAt: message.occurredAt,
      payload: message.payload,
      now: startedAt,
    });
    const blocked = blockedTarget(endpoint.url, urlPolicy);
    if (blocked) return { ok: false, reason: 'blocked', error: `blocked by the SSRF guard: ${blocked}`, statusCode: null, body: null };
    return postWebhook(http.agent, endpoint.url, webhook.headers, webhook.body, http);
  }

  /** One attempt, recorded; see attemptDelivery. */
  async function attempt(input: AttemptDeliveryInput, beat: () => void): Promise<AttemptOutcome> {
    const id = deliveryId(input.messageId, input.endpointId);
    const [endpoint, message] = await Promise.all([store.endpoints.get(input.endpointId), messages.fetch(input.messageId)]);
    if (!message) {
      // Deleted by retention: a parked delivery of it must not wait for ever.
      const row = await store.deliveries.get(id);
      if (await store.deliveries.cancel(id)) {
        recordDelivery('cancelled');
        if (row) await publishLiveEvents(db, [deliveryStatusEvent(row, 'CANCELLED', now())]);
      }
      return { kind: 'gone', why: 'message deleted' };
    }
    if (!endpoint || endpoint.deletedAt) {
      if (await store.deliveries.cancel(id)) {
        recordDelivery('cancelled');
        await publishLiveEvents(db, [messageDeliveryStatusEvent(message, input.endpointId, 'CANCELLED', input.workflowId, now())]);
      }
      return { kind: 'gone', why: 'endpoint deleted' };
    }
    if (endpoint.status === 'DISABLED') {
      const parked = await store.deliveries.setOwnedStatus(id, input.workflowId, 'PARKED');
      if (parked) {
        recordDelivery('parked');
        await publishLiveEvents(db, [messageDeliveryStatusEvent(message, endpoint._id, 'PARKED', input.workflowId, now())]);
      }
      return parked || input.claimParked ? { kind: 'parked' } : refusal(await store.deliveries.whyNotAttemptable(id, input.workflowId));
    }
    // Before a number is allocated: a secret that cannot be read makes no attempt.
    const secrets = openSecrets(endpoint, now());
    // The slot bounds this worker's requests in flight to the endpoint: it is taken before a number is
    // allocated (a throttled pass allocates none) and released as soon as the POST has its answer, so
    // that the recording writes after it hold no slot.
    if (input.waitForSlot) await slots.take(endpoint._id, beat);
    else if (!slots.tryTake(endpoint._id)) return { kind: 'throttled' };
    let holding = true;
    const release = () => {
      if (holding) slots.release(endpoint._id);
      holding = false;
    };
    try {
      let started = await store.deliveries.startAttempt(id, input.workflowId, input.claimParked ?? false);
      if ('why' in started && started.why === 'missing') {
        // A row lost or never written (a message stored by an older version): the message says what it must be.
        await store.deliveries.ensureForMessage(message);
        started = await store.deliveries.startAttempt(id, input.workflowId, input.claimParked ?? false);
      }
      if ('why' in started) return refusal(started);
      const startedAt = now();
      const clock = performance.now();
      const result = await post(endpoint, message, secrets, startedAt);
      const durationMs = Math.round(performance.now() - clock);
      release();
      const verdict = {
        acknowledged: result.ok,
        statusCode: result.statusCode,
        ...(result.retryAfterMs === undefined ? {} : { retryAfterMs: result.retryAfterMs }),
      };
      const step = decideNextStep(endpoint.retryPolicy, input.number, verdict, 0);
      const attempt: AttemptDoc = {
        _id: attemptId(id, started.seq),
        tenantId: message.tenantId,
        messageId: message._id,
        endpointId: endpoint._id,
        deliveryId: id,
        seq: started.seq,
        number: input.number,
        workflowId: input.workflowId,
        startedAt,
        durationMs,
        statusCode: result.statusCode,
        responseBody: result.body,
        error: result.ok ? null : result.error,
        succeeded: result.ok,
      };
      await store.attempts.record(attempt);
      await store.deliveries.setOwnedStatus(id, input.workflowId, step.status);
      await publishLiveEvents(db, [attemptEvent(attempt, message.eventType, step.status)]);
      log.debug({ messageId: message._id, endpointId: endpoint._id, attempt: input.number, seq: started.seq, ok: result.ok, durationMs }, 'attempt recorded');
      // A first run's attempt numbers start at 0 with its retries; a resend's or redelivery's do not.
      recordAttemptMetrics({ result, durationMs, status: step.status, acceptedAt: message.createdAt, firstRun: started.seq === input.number });
      if (result.ok) return { kind: 'acknowledged', statusCode: result.statusCode, seq: started.seq };
      return {
        kind: 'failed',
        seq: started.seq,
        reason: result.reason,
        statusCode: result.statusCode,
        error: result.error,
        retryPolicy: endpoint.retryPolicy,
        ...(verdict.retryAfterMs === undefined ? {} : { retryAfterMs: verdict.retryAfterMs }),
      };
    } finally {
      release();
    }
  }

  return {
    /**
     * Posts one signed attempt of a message to an endpoint and records it; posts nothing to a disabled
     * endpoint and parks the delivery instead, and nothing for a run that no longer owns the delivery.
     * The attempt's number is allocated atomically on the delivery row before the POST.
     */
    async attemptDelivery(input: AttemptDeliveryInput): Promise<AttemptOutcome> {
      // A local activity (the first try) cannot heartbeat: its workflow task's timeout covers it.
      const context = Context.current();
      const beat = () => (context.info.isLocal ? undefined : context.heartbeat());
      const timer = context.info.isLocal ? undefined : setInterval(beat, 1000);
      try {
        return await attempt(input, beat);
      } finally {
        clearInterval(timer);
      }
    },

    /** The endpoint's parked deliveries, oldest event first. */
    async listParkedDeliveries(args: { endpointId: string; limit: number }): Promise<ParkedDelivery[]> {
      return (await store.deliveries.listParked(args.endpointId, args.limit)).map((row) => ({
        messageId: row.messageId,
        orderingKey: row.orderingKey ?? null,
      }));
    },

    /** recoverEndpoint and resendMessage: the deliveries become PARKED under the endpoint's redelivery. */
    async handToRedelivery(args: { endpointId: string; messageIds: string[]; owner: string }): Promise<number> {
      return store.deliveries.handToRedelivery(
        args.messageIds.map((m) => deliveryId(m, args.endpointId)),
        args.owner,
      );
    },
  };
}

function refusal(refused: AttemptRefusal): AttemptOutcome {
  switch (refused.why) {
    case 'superseded':
      return { kind: 'superseded', owner: refused.owner };
    case 'finished':
      return refused.status === 'CANCELLED' ? { kind: 'gone', why: 'cancelled' } : { kind: 'finished', status: refused.status };
    case 'missing':
      return { kind: 'gone', why: 'no delivery row' };
  }
}
