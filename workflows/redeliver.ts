import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { deliverToEndpoint } from './deliver';
import type { RedeliverMessagesInput, RedeliverParkedInput } from './definitions';
import type { ParkedDelivery } from './delivery-types';

const { listParkedDeliveries, loadDeliveries } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

const BATCH = 50;

/** Delivers one after the other; stops at the first that parks, since the endpoint is disabled again. */
async function deliverInOrder(tenantId: string, endpointId: string, batch: ParkedDelivery[]): Promise<{ delivered: number; parked: boolean }> {
  let delivered = 0;
  for (const delivery of batch) {
    const result = await deliverToEndpoint({
      tenantId,
      messageId: delivery.messageId,
      endpointId,
      previousAttempts: delivery.attemptCount,
      isCancelled: () => false,
      onRetry: () => undefined,
    });
    if (result.status === 'PARKED') return { delivered, parked: true };
    if (result.status === 'SUCCEEDED') delivered += 1;
  }
  return { delivered, parked: false };
}

/**
 * After a reactivation: delivers the endpoint's parked messages one at a time, in the order their
 * events happened, each under the endpoint's retry policy. If the endpoint is disabled again, the
 * rest stay parked for the next reactivation.
 */
export async function redeliverParked(input: RedeliverParkedInput): Promise<{ delivered: number; stillParked: boolean }> {
  let delivered = input.deliveredBefore ?? 0;
  for (;;) {
    // Delivered ones leave PARKED, so the first page is always the next batch.
    const batch = await listParkedDeliveries({ endpointId: input.endpointId, limit: BATCH });
    if (batch.length === 0) return { delivered, stillParked: false };
    const result = await deliverInOrder(input.tenantId, input.endpointId, batch);
    delivered += result.delivered;
    if (result.parked) return { delivered, stillParked: true };
    if (workflowInfo().continueAsNewSuggested) await continueAsNew<typeof redeliverParked>({ ...input, deliveredBefore: delivered });
  }
}

/** resendMessage and recoverEndpoint: delivers the given messages to one endpoint again, in event order. */
export async function redeliverMessages(input: RedeliverMessagesInput): Promise<{ delivered: number; stoppedBecauseDisabled: boolean }> {
  let delivered = 0;
  for (let i = 0; i < input.messageIds.length; i += BATCH) {
    const batch = await loadDeliveries({ endpointId: input.endpointId, messageIds: input.messageIds.slice(i, i + BATCH) });
    const result = await deliverInOrder(input.tenantId, input.endpointId, batch);
    delivered += result.delivered;
    if (result.parked) return { delivered, stoppedBecauseDisabled: true };
  }
  return { delivered, stoppedBecauseDisabled: false };
}
