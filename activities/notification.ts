/** Where contacts are notified of an endpoint's lifecycle events: email, SMS and the operator webhook. */
import type { Store } from '../src/store';
import { trackNotification } from '../src/observability/metrics';
import type { Channel, Notifier } from '../src/notify/channels';
import { notifies, renderNotification } from '../src/notify/render';
import type { RaisedEvent } from '../workflows/endpoint-lifecycle';

export function createNotificationActivities({ store, notifier }: { store: Store; notifier: Notifier }) {
  return {
    /**
     * Sends one lifecycle event through one channel to each of the endpoint's contacts. Each send is
     * recorded under an id made of the event, the channel and the recipient, so a retried activity
     * does not send it again. An unconfigured channel is skipped.
     */
    async notify(args: { endpointId: string; event: RaisedEvent; channel: Channel }): Promise<{ sent: number }> {
      const { event, channel } = args;
      if (!notifies(event.kind)) return { sent: 0 };
      const endpoint = await store.endpoints.get(args.endpointId);
      if (!endpoint) return { sent: 0 };
      const notification = renderNotification({ ...event, kind: event.kind }, { id: endpoint._id, url: endpoint.url });

      const sends: { recipient: string; send: () => Promise<void> }[] = [];
      if (channel === 'email' && notifier.email && endpoint.notifyEmails.length > 0) {
        const send = notifier.email;
        sends.push({
          recipient: endpoint.notifyEmails.join(','),
          send: () => send(endpoint.notifyEmails, notification.subject, notification.text, `<${event.id.replace(':', '.')}@hookflow>`),
        });
      }
      if (channel === 'sms' && notifier.sms) {
        const send = notifier.sms;
        for (const phone of endpoint.notifyPhones) sends.push({ recipient: phone, send: () => send(phone, notification.sms) });
      }
      if (channel === 'ops' && notifier.ops) {
        const send = notifier.ops;
        sends.push({ recipient: 'ops', send: () => send(event.id, notification.opsEventType, notification.opsPayload) });
      }

      let sent = 0;
      for (const { recipient, send } of sends) {
        const id = `${event.id}:${channel}:${recipient}`;
        if (await store.endpointEvents.wasNotified(id)) continue;
        await trackNotification(channel, send());
        await store.endpointEvents.markNotified(id);
        sent += 1;
      }
      return { sent };
    },
  };
}
