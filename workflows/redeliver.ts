import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { deliverToEndpoint } from './deliver';
import type { RedeliverParkedInput } from './definitions';

const { listParkedDeliveries } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

const BATCH = 50;

/**
 * After a reactivation: delivers the endpoint's parked messages one at a time, in the order their
 * events happened, each under the endpoint's retry policy. If the endpoint is disabled again, the
 * rest stay parked for the next reactivation.
 */
export async function redeliverParked(input: RedeliverParkedInput): Promise<{ delivered: number; stillParked: boolean }> {
  let delivered = 0;
  for (;;) {
    // Delivered ones leave PARKED, so the first page is always the next batch.
    const batch = await listParkedDeliveries({ endpointId: input.endpointId, limit: BATCH });
    if (batch.length === 0) return { delivered, stillParked: false };
    for (const parked of batch) {
      const result = await deliverToEndpoint({
        tenantId: input.tenantId,
        messageId: parked.messageId,
        endpointId: input.endpointId,
        previousAttempts: parked.attemptCount,
        isCancelled: () => false,
        onRetry: () => undefined,
      });
      if (result.status === 'PARKED') return { delivered, stillParked: true };
      delivered += 1;
    }
    if (workflowInfo().continueAsNewSuggested) await continueAsNew<typeof redeliverParked>(input);
  }
}
