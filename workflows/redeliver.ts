/**
 * The one owner of an endpoint's undelivered messages (`redeliver-<endpoint id>`). Reactivation,
 * recoverEndpoint, resendMessage and maintenance all hand it work by signal-with-start, so one run
 * posts an endpoint's parked messages, one at a time, in the order their events happened.
 */
import { continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { deliverToEndpoint } from './deliver';
import { redeliverSignal, type RedeliverEndpointInput } from './definitions';

const { listParkedDeliveries, handToRedelivery } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

const BATCH = 50;

export interface RedeliverEndpointResult {
  delivered: number;
  /** The endpoint was disabled again: the rest stay parked until the next reactivation. */
  stillParked: boolean;
}

export async function redeliverEndpoint(input: RedeliverEndpointInput): Promise<RedeliverEndpointResult> {
  const { endpointId, tenantId } = input;
  const owner = workflowInfo().workflowId;
  const handed: string[] = [...(input.handed ?? [])];
  let woken = false;
  setHandler(redeliverSignal, ({ messageIds }) => {
    handed.push(...messageIds);
    woken = true;
  });
  let delivered = input.deliveredBefore ?? 0;

  const takeHanded = async () => {
    while (handed.length > 0) await handToRedelivery({ endpointId, messageIds: handed.splice(0, BATCH), owner });
  };

  for (;;) {
    await takeHanded();
    woken = false;
    // Delivered rows leave PARKED, so the first page is always the next batch in event order.
    const batch = await listParkedDeliveries({ endpointId, limit: BATCH });
    let stopped = false;
    for (const { messageId, orderingKey } of batch) {
      // Messages handed meanwhile may have earlier events: park them first, then list again.
      if (handed.length > 0) break;
      const result = await deliverToEndpoint({
        tenantId,
        messageId,
        endpointId,
        claimParked: true,
        isCancelled: () => false,
        onRetry: () => undefined,
        throttle: { passes: 0 },
        orderingKey,
      });
      if (result.status === 'SUCCEEDED') delivered += 1;
      if (result.status === 'PARKED') {
        stopped = true;
        break;
      }
    }
    if (handed.length > 0 || woken) continue;
    // Done, or disabled again. A signal that lands before this run closes is still seen: Temporal
    // refuses to complete a run while a new signal waits, and runs the task again with it.
    if (stopped || batch.length === 0) return { delivered, stillParked: stopped };
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof redeliverEndpoint>({ endpointId, tenantId, handed, deliveredBefore: delivered });
    }
  }
}
