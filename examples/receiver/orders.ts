import type { Db } from 'mongodb';
import { inEventOrder, type ProcessFn, type ReceiverStore } from 'hookflow/receiver';

export interface OrderDoc {
  _id: string;
  status: string;
  /** The event time of the state kept here: older events are dropped (inEventOrder). */
  eventAt: Date;
  lastMessageId: string;
  data: Record<string, unknown>;
  syncedAt: Date;
}

interface OrderEventDoc {
  /** The message id: a re-run of `process` after a crash in its middle writes nothing twice. */
  _id: string;
  orderId: string;
  type: string | null;
  eventAt: Date;
  appliedAt: Date;
}

const orderIdOf = (data: unknown): string | null => {
  const id = (data as { orderId?: unknown } | null)?.orderId;
  return typeof id === 'string' && id !== '' ? id : null;
};

/**
 * The order sync: for every `order.*` event, the order's latest state in `orders`, and one line per
 * applied event in `order_events`. Events of one order are applied in the order they happened; a
 * late one (a retry of an older event) is dropped. `failRate` makes `process` throw that share of the
 * time, to watch the handler retry.
 */
export function orderSync(db: Db, store: ReceiverStore, options: { failRate?: number } = {}): ProcessFn {
  const orders = db.collection<OrderDoc>('orders');
  const events = db.collection<OrderEventDoc>('order_events');
  const apply: ProcessFn = async (message) => {
    if (Math.random() < (options.failRate ?? 0)) throw new Error('simulated failure (EXAMPLE_FAIL_RATE)');
    const orderId = orderIdOf(message.data)!;
    const eventAt = new Date(message.timestamp);
    try {
      await events.insertOne({ _id: message.id, orderId, type: message.type, eventAt, appliedAt: new Date() });
    } catch (error) {
      // Already applied by an attempt that died before it could complete the message.
      if ((error as { code?: number }).code !== 11000) throw error;
    }
    await orders.updateOne(
      { _id: orderId },
      {
        $set: {
          status: message.type!.slice('order.'.length),
          eventAt,
          lastMessageId: message.id,
          data: message.data as Record<string, unknown>,
          syncedAt: new Date(),
        },
      },
      { upsert: true },
    );
  };
  const ordered = inEventOrder({ store, stale: 'drop', key: (message) => `order:${orderIdOf(message.data)}` }, apply);
  return (message, context) => {
    // Not an order event, or one without an order id: nothing to sync, and nothing to retry.
    if (!message.type?.startsWith('order.') || orderIdOf(message.data) === null) return undefined;
    return ordered(message, context);
  };
}
