import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  patched,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import {
  disableUpdate,
  endpointDeletedSignal,
  lifecyclePendingQuery,
  lifecycleSignal,
  lifecycleStateQuery,
  notifyWorkflowId,
  reactivateSignal,
  reactivateUpdate,
  type EndpointLifecycleInput,
} from './definitions';
import { applyLifecycleInput, initialLifecycleState, NOTIFICATION_CHANNELS, notifies, type LifecycleInput, type LifecycleState } from './endpoint-lifecycle';
import { notifyEndpointEvent } from './notify';

/**
 * Runs recorded before notifications became child workflows sent them as activities of this workflow,
 * and started a redelivery child per reactivation; their histories replay through these.
 */
const NOTIFY_AS_CHILD = 'notifications-as-child-workflows';
const ONE_REDELIVERY_OWNER = 'one-redelivery-workflow-per-endpoint';
const legacy = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

/** Writing the status and the event to MongoDB, and waking the redelivery: short, retried until they land. */
const { saveLifecycle, wakeRedelivery } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** Hand over to a fresh run well before the history gets large. */
const MAX_HISTORY_EVENTS = 5_000;

/** The error types the Updates' validators refuse with; the API maps them to its error codes. */
export const LIFECYCLE_REFUSALS = { notDisabled: 'ENDPOINT_NOT_DISABLED', alreadyDisabled: 'ENDPOINT_ALREADY_DISABLED' } as const;

/**
 * The entity workflow of one endpoint (id `endpoint-<endpoint id>`). It owns the lifecycle state,
 * raises on_failure, on_failure_recovered and on_deactivation, records them and the status in
 * MongoDB, starts their notifications, and on reactivation wakes the endpoint's redelivery. It never
 * waits on a notification, so a channel that is down never delays a state change.
 */
export async function endpointLifecycle(input: EndpointLifecycleInput): Promise<void> {
  const { endpointId, tenantId } = input;
  let state = input.state ?? initialLifecycleState();
  const queue: LifecycleInput[] = [...(input.pending ?? [])];
  let deleted = input.deleted ?? false;
  /** Inputs applied so far in this run; an Update waits until its own has been. */
  let applied = 0;
  let enqueued = 0;

  const enqueue = (signal: LifecycleInput) => {
    queue.push(signal);
    return ++enqueued;
  };
  const untilApplied = async (ticket: number) => {
    await condition(() => applied >= ticket);
    return state;
  };
  setHandler(lifecycleSignal, (signal) => void enqueue(signal));
  setHandler(reactivateSignal, (by) => void enqueue({ type: 'reactivate', by: by?.by ?? 'operator signal' }));
  setHandler(endpointDeletedSignal, () => void (deleted = true));
  /** The input being applied (its writes under way), taken off the queue. */
  let applying: LifecycleInput | null = null;
  /**
   * The status once every input received so far is applied. The Updates validate against it, not
   * against `state`: a retry exhaustion received but still being saved has decided the status already,
   * and a reactivation refused as "not disabled" just before the endpoint turns DISABLED would leave it
   * disabled (found by the model test, seed 1004568472).
   */
  const projectedStatus = () => {
    let projected = state;
    for (const input of applying ? [applying, ...queue] : queue) projected = applyLifecycleInput(endpointId, projected, input, Date.now()).state;
    return projected.status;
  };
  setHandler(lifecycleStateQuery, () => state);
  setHandler(lifecyclePendingQuery, () => queue.length + (applying ? 1 : 0));
  setHandler(disableUpdate, ({ by }) => untilApplied(enqueue({ type: 'disable', by })), {
    validator: (_request: { by: string }) => {
      if (projectedStatus() === 'DISABLED') throw ApplicationFailure.nonRetryable('is already disabled', LIFECYCLE_REFUSALS.alreadyDisabled);
    },
  });
  setHandler(reactivateUpdate, ({ by }) => untilApplied(enqueue({ type: 'reactivate', by })), {
    validator: (_request: { by: string }) => {
      const status = projectedStatus();
      if (status !== 'DISABLED') {
        throw ApplicationFailure.nonRetryable(`is ${status}, not DISABLED: only a disabled endpoint can be reactivated`, LIFECYCLE_REFUSALS.notDisabled);
      }
    },
  });

  const historyIsLarge = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > MAX_HISTORY_EVENTS;

  const legacyNotifications = new Set<Promise<unknown>>();
  while (!deleted) {
    await condition(() => queue.length > 0 || deleted || historyIsLarge());
    while (queue.length > 0 && !deleted) {
      applying = queue.shift()!;
      state = await apply(endpointId, tenantId, state, applying, legacyNotifications);
      applying = null;
      applied += 1;
    }
    if (historyIsLarge() && !deleted) {
      await Promise.all(legacyNotifications);
      await condition(allHandlersFinished);
      const carried: EndpointLifecycleInput = { endpointId, tenantId, state, pending: queue, deleted };
      await continueAsNew<typeof endpointLifecycle>(carried);
    }
  }
  await Promise.all(legacyNotifications);
  await condition(allHandlersFinished);
}

async function apply(
  endpointId: string,
  tenantId: string,
  state: LifecycleState,
  input: LifecycleInput,
  legacyNotifications: Set<Promise<unknown>>,
): Promise<LifecycleState> {
  const { state: next, events } = applyLifecycleInput(endpointId, state, input, Date.now());
  if (events.length === 0) return next;
  await saveLifecycle({ endpointId, tenantId, status: next.status, failingSince: next.failingSince, disabledAt: next.disabledAt, events });
  for (const event of events) {
    if (event.kind === 'REACTIVATED') {
      if (patched(ONE_REDELIVERY_OWNER)) await wakeRedelivery({ tenantId, endpointId });
      else
        await startChild('redeliverParked', {
          workflowId: `redeliver-${endpointId}-${next.eventCount}`,
          args: [{ endpointId, tenantId }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
        });
      continue;
    }
    if (!notifies(event.kind)) continue;
    if (!patched(NOTIFY_AS_CHILD)) {
      for (const channel of NOTIFICATION_CHANNELS) {
        const sent = legacy.notify({ endpointId, event, channel }).catch(() => undefined);
        legacyNotifications.add(sent);
        void sent.finally(() => legacyNotifications.delete(sent));
      }
      continue;
    }
    try {
      await startChild(notifyEndpointEvent, {
        workflowId: notifyWorkflowId(event.id),
        args: [{ endpointId, event }],
        // The notifications go on after this run continues as new or ends.
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
    } catch (error) {
      // Already started for this event (a run that was lost and resumed): it is under way.
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  }
  return next;
}
