import {
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { endpointDeletedSignal, lifecycleSignal, lifecycleStateQuery, redeliverWorkflowId, type EndpointLifecycleInput } from './definitions';
import { applyLifecycleInput, initialLifecycleState, NOTIFICATION_CHANNELS, type LifecycleInput } from './endpoint-lifecycle';
import { redeliverParked } from './redeliver';

/** Writing the status and the event to MongoDB: short, retried until MongoDB answers. */
const { saveLifecycle } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/**
 * A notification channel that is down is retried for a day, in the background: it never holds the
 * endpoint's state changes, let alone a delivery. Each channel is its own activity, so a dead SMTP
 * server does not stop the SMS.
 */
const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

/** Hand over to a fresh run well before the history gets large. */
const MAX_HISTORY_EVENTS = 5_000;

/**
 * The entity workflow of one endpoint (id `endpoint-<endpoint id>`). It owns the lifecycle state,
 * raises on_failure, on_failure_recovered and on_deactivation, records them and the status in
 * MongoDB, sends the notifications, and on reactivation starts the delivery of parked messages.
 */
export async function endpointLifecycle(input: EndpointLifecycleInput): Promise<void> {
  const { endpointId, tenantId } = input;
  let state = input.state ?? initialLifecycleState();
  const queue: LifecycleInput[] = [...(input.pending ?? [])];
  let deleted = false;
  const notifications = new Set<Promise<void>>();

  setHandler(lifecycleSignal, (signal) => void queue.push(signal));
  setHandler(endpointDeletedSignal, () => void (deleted = true));
  setHandler(lifecycleStateQuery, () => state);

  const historyIsLarge = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > MAX_HISTORY_EVENTS;

  for (;;) {
    await condition(() => queue.length > 0 || deleted || historyIsLarge());
    if (deleted) break;

    while (queue.length > 0 && !deleted) {
      const signal = queue.shift()!;
      const { state: next, events } = applyLifecycleInput(endpointId, state, signal, Date.now());
      if (events.length === 0) continue;
      await saveLifecycle({ endpointId, tenantId, status: next.status, failingSince: next.failingSince, disabledAt: next.disabledAt, events });
      state = next;
      for (const event of events) {
        if (event.kind === 'REACTIVATED') {
          await startChild(redeliverParked, {
            workflowId: redeliverWorkflowId(endpointId, state.eventCount),
            args: [{ endpointId, tenantId }],
            // The parked messages keep being delivered if this run continues as new.
            parentClosePolicy: ParentClosePolicy.ABANDON,
          });
          continue;
        }
        for (const channel of NOTIFICATION_CHANNELS) {
          const sent: Promise<void> = notify({ endpointId, event, channel })
            .then(() => undefined)
            .catch((error) => log.warn('notification given up', { channel, eventId: event.id, error: String(error) }))
            .finally(() => notifications.delete(sent));
          notifications.add(sent);
        }
      }
    }

    if (historyIsLarge() && !deleted) {
      await Promise.all(notifications);
      await condition(allHandlersFinished);
      await continueAsNew<typeof endpointLifecycle>({ endpointId, tenantId, state, pending: queue });
    }
  }
  await Promise.all(notifications);
  await condition(allHandlersFinished);
}
