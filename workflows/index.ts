import { proxyActivities, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DeliverMessageInput, DeliverMessageResult, DeliveryResult } from './delivery-types';
import { retryDelayMs } from './retry-schedule';
import { DELIVERY_STATUS } from './search-attributes';

/**
 * One attempt posts with a 15 s budget and writes two small documents. A failed POST is a result,
 * not an exception; an exception means our own infrastructure (MongoDB, the worker) failed, and
 * those are retried without end so that no delivery is dropped while a server restarts.
 */
const { attemptDelivery } = proxyActivities<Activities>({
  startToCloseTimeout: '60 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** Delivers one message to each of its endpoints concurrently; a slow endpoint delays no other. */
export async function deliverMessage(input: DeliverMessageInput): Promise<DeliverMessageResult> {
  let markedRetrying = false;
  const markRetrying = () => {
    if (markedRetrying) return;
    markedRetrying = true;
    upsertSearchAttributes([{ key: DELIVERY_STATUS, value: 'RETRYING' }]);
  };
  const deliveries = await Promise.all(
    input.endpointIds.map((endpointId) => deliverToEndpoint(input.messageId, endpointId, markRetrying)),
  );
  const failed = deliveries.some((d) => d.status === 'EXHAUSTED');
  upsertSearchAttributes([{ key: DELIVERY_STATUS, value: failed ? 'EXHAUSTED' : 'SUCCEEDED' }]);
  return { messageId: input.messageId, deliveries };
}

async function deliverToEndpoint(messageId: string, endpointId: string, onRetry: () => void): Promise<DeliveryResult> {
  const { workflowId } = workflowInfo();
  for (let number = 0; ; number++) {
    const outcome = await attemptDelivery({ messageId, endpointId, number, workflowId });
    if (outcome.kind === 'acknowledged') return { endpointId, status: 'SUCCEEDED', attempts: number + 1 };
    if (outcome.kind === 'gone') return { endpointId, status: 'CANCELLED', attempts: number };
    if (number >= outcome.retryPolicy.maxRetries) return { endpointId, status: 'EXHAUSTED', attempts: number + 1 };
    onRetry();
    // Math.random is deterministic inside a workflow: replay draws the same jitter.
    await sleep(retryDelayMs(outcome.retryPolicy, number + 1, Math.random(), outcome.retryAfterMs));
  }
}
