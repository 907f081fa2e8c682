import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NOTIFICATION_CHANNELS, type RaisedEvent } from './endpoint-lifecycle';

/**
 * A channel that is down is retried for a day. Each channel is its own activity, so a dead SMTP
 * server does not stop the SMS.
 */
const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

/**
 * The notifications of one lifecycle event (`notify-<event id>`), started and left to run by the
 * endpoint's lifecycle workflow, which thus never waits on a channel that is down.
 */
export async function notifyEndpointEvent(input: { endpointId: string; event: RaisedEvent }): Promise<Record<string, string>> {
  const outcomes = await Promise.allSettled(NOTIFICATION_CHANNELS.map((channel) => notify({ endpointId: input.endpointId, event: input.event, channel })));
  return Object.fromEntries(
    outcomes.map((outcome, i) => [
      NOTIFICATION_CHANNELS[i]!,
      outcome.status === 'fulfilled' ? `sent ${outcome.value.sent}` : `given up: ${String(outcome.reason)}`,
    ]),
  );
}
