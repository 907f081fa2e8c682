import { setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { condition } from '@temporalio/workflow';
import { cancelDeliverySignal, proceedSignal } from './definitions';
import { deliverToEndpoint } from './deliver';
import type { DeliverMessageInput, DeliverMessageResult } from './delivery-types';
import { DELIVERY_STATUS } from './search-attributes';

/**
 * Delivers one message to each of its endpoints concurrently; a slow endpoint delays no other. A keyed
 * message waits, at each endpoint, for its turn from its key's sequence (workflows/sequence.ts).
 */
export async function deliverMessage(input: DeliverMessageInput): Promise<DeliverMessageResult> {
  const cancelled = new Set<string>();
  const turns = new Set<string>();
  setHandler(cancelDeliverySignal, ({ endpointId }) => void cancelled.add(endpointId));
  setHandler(proceedSignal, ({ endpointId }) => void turns.add(endpointId));

  let markedRetrying = false;
  const onRetry = () => {
    if (markedRetrying) return;
    markedRetrying = true;
    upsertSearchAttributes([{ key: DELIVERY_STATUS, value: 'RETRYING' }]);
  };
  const throttle = { passes: 0 };
  const deliveries = await Promise.all(
    input.endpointIds.map(async (endpointId) => {
      if (input.orderingKey) {
        await condition(() => turns.has(endpointId) || cancelled.has(endpointId));
        if (!turns.has(endpointId)) return { endpointId, status: 'CANCELLED' as const, attempts: 0 };
      }
      return deliverToEndpoint({
        tenantId: input.tenantId,
        messageId: input.messageId,
        endpointId,
        claimParked: false,
        isCancelled: () => cancelled.has(endpointId),
        onRetry,
        throttle,
        orderingKey: input.orderingKey ?? null,
      });
    }),
  );
  const statuses = new Set(deliveries.map((d) => d.status));
  const summary = statuses.has('PARKED') ? 'PARKED' : statuses.has('CANCELLED') && statuses.size === 1 ? 'CANCELLED' : 'SUCCEEDED';
  upsertSearchAttributes([{ key: DELIVERY_STATUS, value: summary }]);
  return { messageId: input.messageId, deliveries };
}
