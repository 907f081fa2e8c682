import { setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { cancelDeliverySignal } from './definitions';
import { deliverToEndpoint } from './deliver';
import type { DeliverMessageInput, DeliverMessageResult } from './delivery-types';
import { DELIVERY_STATUS } from './search-attributes';

/** Delivers one message to each of its endpoints concurrently; a slow endpoint delays no other. */
export async function deliverMessage(input: DeliverMessageInput): Promise<DeliverMessageResult> {
  const cancelled = new Set<string>();
  setHandler(cancelDeliverySignal, ({ endpointId }) => void cancelled.add(endpointId));

  let markedRetrying = false;
  const onRetry = () => {
    if (markedRetrying) return;
    markedRetrying = true;
    upsertSearchAttributes([{ key: DELIVERY_STATUS, value: 'RETRYING' }]);
  };
  const throttle = { passes: 0 };
  const deliveries = await Promise.all(
    input.endpointIds.map((endpointId) =>
      deliverToEndpoint({
        tenantId: input.tenantId,
        messageId: input.messageId,
        endpointId,
        claimParked: false,
        isCancelled: () => cancelled.has(endpointId),
        onRetry,
        throttle,
      }),
    ),
  );
  const statuses = new Set(deliveries.map((d) => d.status));
  const summary = statuses.has('PARKED') ? 'PARKED' : statuses.has('CANCELLED') && statuses.size === 1 ? 'CANCELLED' : 'SUCCEEDED';
  upsertSearchAttributes([{ key: DELIVERY_STATUS, value: summary }]);
  return { messageId: input.messageId, deliveries };
}
