import type { NotifyingKind, RaisedEvent } from '../../workflows/endpoint-lifecycle';

export { notifies } from '../../workflows/endpoint-lifecycle';

/** The operator webhook's event type for each lifecycle event that notifies. */
export const OPS_EVENT_TYPES: Record<NotifyingKind, string> = {
  ON_FAILURE: 'endpoint.failing',
  ON_FAILURE_RECOVERED: 'endpoint.recovered',
  ON_DEACTIVATION: 'endpoint.disabled',
};

export interface Notification {
  subject: string;
  text: string;
  sms: string;
  opsEventType: string;
  opsPayload: Record<string, unknown>;
}

const headline: Record<NotifyingKind, string> = {
  ON_FAILURE: 'is failing (on_failure)',
  ON_FAILURE_RECOVERED: 'has recovered (on_failure_recovered)',
  ON_DEACTIVATION: 'was disabled (on_deactivation)',
};

/** The same facts for every channel: endpoint, event, message, attempts, last error, and what to do. */
export function renderNotification(event: RaisedEvent & { kind: NotifyingKind }, endpoint: { id: string; url: string }): Notification {
  const lines = [
    `Endpoint ${endpoint.id} (${endpoint.url}) ${headline[event.kind]}.`,
    `Event: ${event.kind.toLowerCase()} at ${new Date(event.at).toISOString()}: ${event.reason}.`,
  ];
  if (event.messageId) lines.push(`Message: ${event.messageId}, after ${event.attempts ?? 0} attempt(s).`);
  if (event.error) lines.push(`Last error: ${event.error}`);
  if (event.kind === 'ON_DEACTIVATION') {
    lines.push(
      'Nothing is sent to it while it is disabled; new messages are parked, not lost.',
      `To reactivate it and deliver the parked messages in order: mutation { reactivateEndpoint(id: "${endpoint.id}") { status } }`,
    );
  }
  const sms = [
    `Hookflow: endpoint ${endpoint.id} ${headline[event.kind]}.`,
    event.messageId ? `Message ${event.messageId}, ${event.attempts ?? 0} attempts.` : '',
    event.error ? `Last error: ${event.error}.` : '',
    event.kind === 'ON_DEACTIVATION' ? `Reactivate: reactivateEndpoint(id: "${endpoint.id}")` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return {
    subject: `[Hookflow] Endpoint ${endpoint.url} ${headline[event.kind]}`,
    text: `${lines.join('\n')}\n`,
    sms,
    opsEventType: OPS_EVENT_TYPES[event.kind],
    opsPayload: {
      endpointId: endpoint.id,
      url: endpoint.url,
      event: event.kind.toLowerCase(),
      reason: event.reason,
      messageId: event.messageId,
      attempts: event.attempts,
      lastError: event.error,
      at: new Date(event.at).toISOString(),
    },
  };
}
