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
  /** A delivery failed its first try and `retriesUntilFailure` retries. */
  | { type: 'deliveryFailing'; messageId: string; attempts: number; error: string }
  /** A delivery that had been failing was acknowledged. */
  | { type: 'deliveryRecovered'; messageId: string; attempts: number }
  /** A delivery exhausted `maxRetries`, or the endpoint answered 410 Gone. */
  | { type: 'deliveryExhausted'; messageId: string; attempts: number; error: string; gone: boolean }
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
}

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
});

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
      if (next.failing[input.messageId] || next.status === 'DISABLED') break;
      next.failing[input.messageId] = { since: now, attempts: input.attempts, error: input.error };
      if (next.status === 'ACTIVE') {
        next.status = 'FAILING';
        next.failingSince = now;
      }
      raise('ON_FAILURE', 'retries until failure reached', { messageId: input.messageId, attempts: input.attempts, error: input.error });
      break;
    }
    case 'deliveryRecovered': {
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
