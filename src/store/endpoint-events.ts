import type { Collection } from 'mongodb';
import type { EndpointEventDoc, NotificationDoc } from '../db/types';
import type { RaisedEvent } from '../../workflows/endpoint-lifecycle';

/** Every write to an endpoint's event log and to the record of notifications sent. */
export function createEndpointEventStore(events: Collection<EndpointEventDoc>, notifications: Collection<NotificationDoc>, now: () => Date) {
  return {
    /** `_id` is the event's own id, so recording it twice is harmless. */
    async recordRaised(endpointId: string, tenantId: string, event: RaisedEvent): Promise<void> {
      await events.replaceOne(
        { _id: event.id },
        {
          endpointId,
          tenantId,
          kind: event.kind,
          at: new Date(event.at),
          reason: event.reason,
          messageId: event.messageId,
          attempts: event.attempts,
          error: event.error,
        },
        { upsert: true },
      );
    },

    /** Retention deleted a parked message: said on its endpoint, once per message. */
    async recordParkedExpired(
      delivery: { endpointId: string; tenantId: string; messageId: string; attemptCount: number; messageCreatedAt: Date },
      cutoff: Date,
    ) {
      await events.replaceOne(
        { _id: `${delivery.endpointId}:expired:${delivery.messageId}` },
        {
          endpointId: delivery.endpointId,
          tenantId: delivery.tenantId,
          kind: 'PARKED_MESSAGE_EXPIRED',
          at: now(),
          reason: `a parked message was deleted by retention (created ${delivery.messageCreatedAt.toISOString()}, before ${cutoff.toISOString()})`,
          messageId: delivery.messageId,
          attempts: delivery.attemptCount,
          error: null,
        },
        { upsert: true },
      );
    },

    /** Lifecycle events recorded so far, which numbers the next ones when a lost lifecycle workflow is restarted. */
    countLifecycle: (endpointId: string) => events.countDocuments({ endpointId, kind: { $ne: 'PARKED_MESSAGE_EXPIRED' } }),

    wasNotified: async (id: string) => (await notifications.findOne({ _id: id })) !== null,
    async markNotified(id: string): Promise<void> {
      await notifications.replaceOne({ _id: id }, { sentAt: now() }, { upsert: true });
    },

    /** Retention: events and notification records older than the cutoff, a bounded batch at a time. */
    async pruneBefore(cutoff: Date, limit: number): Promise<{ events: number; notifications: number }> {
      const oldEvents = await events
        .find({ at: { $lt: cutoff } }, { projection: { _id: 1 } })
        .limit(limit)
        .toArray();
      const oldNotifications = await notifications
        .find({ sentAt: { $lt: cutoff } }, { projection: { _id: 1 } })
        .limit(limit)
        .toArray();
      let deletedEvents = 0;
      let deletedNotifications = 0;
      for (const { _id } of oldEvents) deletedEvents += (await events.deleteOne({ _id })).deletedCount;
      for (const { _id } of oldNotifications) deletedNotifications += (await notifications.deleteOne({ _id })).deletedCount;
      return { events: deletedEvents, notifications: deletedNotifications };
    },
  };
}

export type EndpointEventStore = ReturnType<typeof createEndpointEventStore>;
