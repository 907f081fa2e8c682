/**
 * The sequence of one ordering key of one tenant (`order-<tenant>-<key hash>`). sendMessage enqueues
 * each keyed message here (signal-with-start), so the order of the signals is the order in which the
 * messages were accepted. Per endpoint, the first message of the queue is told to proceed; the next
 * one only when that delivery has ended (acknowledged, or cancelled with its endpoint). A message that
 * keeps failing, or is parked on a disabled endpoint, holds back its key at that endpoint only.
 */
import { allHandlersFinished, condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { enqueueSignal, sequenceFinishedSignal, sequenceStateQuery, type OrderMessagesInput, type SequenceState } from './definitions';

const { grantTurn } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/**
 * By default a key with nothing queued keeps its workflow a minute, then it completes: a steady stream
 * of a key's messages does not pay a workflow start each, and an idle key holds nothing open after that.
 */
export const IDLE_KEY_MS = 60_000;
/** Finished (message, endpoint) pairs remembered, so that a repeated enqueue of one changes nothing. */
const REMEMBERED = 1_000;
const MAX_HISTORY_EVENTS = 5_000;

export const emptySequence = (): SequenceState => ({ queues: {}, granted: {}, eventTypes: {}, finished: [] });

/** Pure: a message joins the end of each of its endpoints' queues, once. */
export function enqueue(state: SequenceState, messageId: string, eventType: string, endpointIds: string[]): void {
  for (const endpointId of endpointIds) {
    const pair = `${messageId}:${endpointId}`;
    if (state.queues[endpointId]?.includes(messageId) || state.finished.includes(pair)) continue;
    (state.queues[endpointId] ??= []).push(messageId);
    state.eventTypes[messageId] = eventType;
  }
}

/** Pure: a message's delivery to an endpoint ended; the next message of that queue may go. */
export function finish(state: SequenceState, messageId: string, endpointId: string): void {
  const queue = state.queues[endpointId];
  const at = queue?.indexOf(messageId) ?? -1;
  if (!queue || at < 0) return;
  queue.splice(at, 1);
  if (at === 0) state.granted[endpointId] = false;
  if (queue.length === 0) {
    delete state.queues[endpointId];
    delete state.granted[endpointId];
  }
  state.finished.push(`${messageId}:${endpointId}`);
  if (state.finished.length > REMEMBERED) state.finished.splice(0, state.finished.length - REMEMBERED);
  if (!Object.values(state.queues).some((q) => q.includes(messageId))) delete state.eventTypes[messageId];
}

/** The endpoints whose first message has not been told to proceed yet. */
export const ungranted = (state: SequenceState): string[] => Object.keys(state.queues).filter((endpointId) => !state.granted[endpointId]);

export async function orderMessages(input: OrderMessagesInput): Promise<void> {
  const { tenantId, orderingKey, idleMs = IDLE_KEY_MS } = input;
  const state = input.state ?? emptySequence();
  setHandler(enqueueSignal, ({ messageId, eventType, endpointIds }) => enqueue(state, messageId, eventType, endpointIds));
  setHandler(sequenceFinishedSignal, ({ messageId, endpointId }) => finish(state, messageId, endpointId));
  setHandler(sequenceStateQuery, () => state);
  const historyIsLarge = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > MAX_HISTORY_EVENTS;

  for (;;) {
    for (const endpointId of ungranted(state)) {
      const messageId = state.queues[endpointId]![0]!;
      state.granted[endpointId] = true;
      const handed = await grantTurn({ tenantId, orderingKey, messageId, eventType: state.eventTypes[messageId] ?? '', endpointId });
      // Its delivery already ended (cancelled with its endpoint, or delivered by a resend): next one.
      if (!handed) finish(state, messageId, endpointId);
    }
    if (historyIsLarge()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof orderMessages>({ tenantId, orderingKey, idleMs, state });
    }
    const work = () => ungranted(state).length > 0 || historyIsLarge();
    const idle = () => Object.keys(state.queues).length === 0;
    // Busy: wait for a turn to give, or for the last queue to empty. Idle: wait for work, or end.
    if (!idle()) await condition(() => work() || idle());
    else if (!(await condition(work, idleMs))) return;
  }
}
