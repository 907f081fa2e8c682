/** Where a keyed message's turn is given and its end reported to its key's sequence. */
import type { Client } from '@temporalio/client';
import { deliveryId } from '../src/db/types';
import type { Store } from '../src/store';
import { finishKeyedMessage, proceedKeyedMessage } from '../src/starts';

export function createOrderingActivities({ store, temporal, taskQueue }: { store: Store; temporal: Client; taskQueue: string }) {
  return {
    /**
     * Tells a keyed message's delivery workflow that its turn at an endpoint has come, starting the
     * workflow on its first turn. Returns false, telling nothing, when that delivery no longer waits
     * (cancelled with its endpoint, taken over by a resend, or the message deleted).
     */
    async grantTurn(args: { tenantId: string; orderingKey: string; messageId: string; eventType: string; endpointId: string }): Promise<boolean> {
      const [row, message] = await Promise.all([store.deliveries.get(deliveryId(args.messageId, args.endpointId)), store.messages.get(args.messageId)]);
      if (!row || !message || row.status !== 'WAITING') return false;
      await proceedKeyedMessage(temporal, taskQueue, message, args.endpointId);
      return true;
    },

    /** A keyed message's delivery to an endpoint ended: its key's next message may go there. */
    async reportSequenceFinished(args: { tenantId: string; orderingKey: string; messageId: string; endpointId: string }): Promise<void> {
      await finishKeyedMessage(temporal, args.tenantId, args.orderingKey, args.messageId, args.endpointId);
    },
  };
}
