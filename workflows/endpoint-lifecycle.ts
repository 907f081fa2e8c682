/**
 * The OneStock failure lifecycle of one endpoint, as pure transitions. The endpoint workflow owns
 * the state and applies these; the tests drive them directly.
 */
import type { EndpointStatus } from './delivery-types';

/** The channels each notifying event goes out on; one activity each, so one that is down delays no other. */
export const NOTIFICATION_CHANNELS = ['email', 'sms', 'ops'] as const;
export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];

export type LifecycleEventKind = 'ON_FAILURE' | 'ON_FAILURE_RECOVERED' | 'ON_DEACTIVATION' | 'REACTIVATED';
/** The events contacts are told of; a reactivation is done by a person and notifies no one. */
export const NOTIFYING_KINDS = ['ON_FAILURE', 'ON_FAILURE_RECOVERED', 'ON_DEACTIVATION'] as const;
export type NotifyingKind = (typeof NOTIFYING_KINDS)[number];
export const notifies = (kind: string): kind is NotifyingKind => (NOTIFYING_KINDS as readonly string[]).includes(kind);
/** Recorded by the maintenance workflow, not by the lifecycle: retention deleted a parked message. */
export type EndpointEventKind = LifecycleEventKind | 'PARKED_MESSAGE_EXPIRED';

/** What the endpoint workflow is told, by delivery workflows or by a person through the API. */
export type LifecycleInput =
  /**
   * A delivery failed its first try and `retriesUntilFailure` retries. `seq` is the failed attempt's
   * number on the delivery row (absent from inputs of older versions).
   */
  | { type: 'deliveryFailing'; messageId: string; attempts: number; error: string; seq?: number }
  /** A delivery that had been failing, or that a run took over, was acknowledged by attempt `seq`. */
  | { type: 'deliveryRecovered'; messageId: string; attempts: number; seq?: number }
  /** A delivery exhausted `maxRetries`, or the endpoint answered 410 Gone. */
  | { type: 'deliveryExhausted'; messageId: string; attempts: number; error: string; gone: boolean; seq?: number }
  | { type: 'disable'; by: string }
  | { type: 'reactivate'; by: string };

export interface FailingDelivery {
  since: number;
  attempts: number;
  error: string;
}

export interface LifecycleState {
  status: EndpointStatus;
  /** Messages whose delivery raised on_failure and has not recovered, by message id. */
  failing: Record<string, FailingDelivery>;
  failingSince: number | null;
  disabledAt: number | null;
  /** Number of events raised so far; event ids derive from it. */
  eventCount: number;
  /**
   * The attempt that acknowledged each recently acknowledged message, by message id, kept
   * `ACKNOWLEDGED_KEPT_MS` and at most `ACKNOWLEDGED_KEPT`. A run superseded by a takeover can report a
   * failure after the takeover's acknowledgement was applied; its attempt is older, and it is ignored.
   * Absent from states carried over by older versions.
   */
  acknowledged?: Record<string, { seq: number; at: number }>;
}

export const ACKNOWLEDGED_KEPT = 256;
export const ACKNOWLEDGED_KEPT_MS = 24 * 60 * 60 * 1000;

export interface RaisedEvent {
  id: string;
  kind: LifecycleEventKind;
  at: number;
  messageId: string | null;
  attempts: number | null;
  error: string | null;
  /** Why, in a few words, for people: "retries exhausted", "410 Gone", "disabled by hand". */
  reason: string;
}

export const initialLifecycleState = (): LifecycleState => ({
  status: 'ACTIVE',
  failing: {},
  failingSince: null,
  disabledAt: null,
  eventCount: 0,
  acknowledged: {},
});

/** A failure report from an attempt older than the one that acknowledged the message since. */
function isStale(state: LifecycleState, messageId: string, seq: number | undefined): boolean {
  const acknowledged = state.acknowledged?.[messageId];
  return seq !== undefined && acknowledged !== undefined && seq < acknowledged.seq;
}

function rememberAcknowledged(state: LifecycleState, messageId: string, seq: number, now: number): void {
  const kept = Object.entries(state.acknowledged ?? {}).filter(([id, entry]) => id !== messageId && now - entry.at < ACKNOWLEDGED_KEPT_MS);
  kept.push([messageId, { seq: Math.max(seq, state.acknowledged?.[messageId]?.seq ?? seq), at: now }]);
  state.acknowledged = Object.fromEntries(kept.slice(-ACKNOWLEDGED_KEPT));
}

/** Applies one input at time `now`; returns the next state and the events it raises (often none). */
export function applyLifecycleInput(
  endpointId: string,
  state: LifecycleState,
  input: LifecycleInput,
  now: number,
): { state: LifecycleState; events: RaisedEvent[] } {
  const events: RaisedEvent[] = [];
  const next: LifecycleState = { ...state, failing: { ...state.failing } };
  const raise = (kind: LifecycleEventKind, reason: string, fields: Partial<Pick<RaisedEvent, 'messageId' | 'attempts' | 'error'>> = {}) => {
    next.eventCount += 1;
    events.push({ id: `${endpointId}:${next.eventCount}`, kind, at: now, messageId: null, attempts: null, error: null, reason, ...fields });
  };

  switch (input.type) {
    case 'deliveryFailing': {
      // Raised once per message: a repeated signal (an activity retry) changes nothing.
      if (next.failing[input.messageId] || next.status === 'DISABLED' || isStale(next, input.messageId, input.seq)) break;
      next.failing[input.messageId] = { since: now, attempts: input.attempts, error: input.error };
      if (next.status === 'ACTIVE') {
        next.status = 'FAILING';
        next.failingSince = now;
      }
      raise('ON_FAILURE', 'retries until failure reached', { messageId: input.messageId, attempts: input.attempts, error: input.error });
      break;
    }
    case 'deliveryRecovered': {
      if (input.seq !== undefined) rememberAcknowledged(next, input.messageId, input.seq, now);
      if (!next.failing[input.messageId]) break;
      delete next.failing[input.messageId];
      raise('ON_FAILURE_RECOVERED', 'a failing message was acknowledged; retry count reset to 0', {
        messageId: input.messageId,
        attempts: input.attempts,
      });
      if (next.status === 'FAILING' && Object.keys(next.failing).length === 0) {
        next.status = 'ACTIVE';
        next.failingSince = null;
      }
      break;
    }
    case 'deliveryExhausted': {
      if (isStale(next, input.messageId, input.seq)) break;
      delete next.failing[input.messageId];
      if (next.status === 'DISABLED') break;
      disable(next, now);
      raise('ON_DEACTIVATION', input.gone ? 'the endpoint answered 410 Gone' : 'retries exhausted', {
        messageId: input.messageId,
        attempts: input.attempts,
        error: input.error,
      });
      break;
    }
    case 'disable': {
      if (next.status === 'DISABLED') break;
      disable(next, now);
      raise('ON_DEACTIVATION', `disabled by hand (${input.by})`);
      break;
    }
    case 'reactivate': {
      if (next.status !== 'DISABLED') break;
      next.status = 'ACTIVE';
      next.disabledAt = null;
      next.failingSince = null;
      next.failing = {};
      raise('REACTIVATED', `reactivated by hand (${input.by})`);
      break;
    }
  }
  return { state: next, events };
}

function disable(state: LifecycleState, now: number): void {
  state.status = 'DISABLED';
  state.disabledAt = now;
  state.failingSince = null;
  state.failing = {};
}
