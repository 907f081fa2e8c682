import nodemailer, { type Transporter } from 'nodemailer';
import { request, type Agent } from 'undici';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { buildWebhookRequest } from '../webhooks/signing';
import { postWebhook } from '../webhooks/http-post';

export type { NotificationChannel as Channel } from '../../workflows/endpoint-lifecycle';

/** The configured notification channels; a channel left unconfigured is absent. */
export interface Notifier {
  email?: (to: string[], subject: string, text: string, messageIdHeader: string) => Promise<void>;
  sms?: (to: string, body: string) => Promise<void>;
  ops?: (id: string, eventType: string, payload: Record<string, unknown>) => Promise<void>;
}

export function createNotifier(config: Config, agent: Agent, log: Logger): Notifier {
  const notifier: Notifier = {};

  if (config.SMTP_URL) {
    const transport: Transporter = nodemailer.createTransport(config.SMTP_URL);
    notifier.email = async (to, subject, text, messageIdHeader) => {
      await transport.sendMail({ from: config.NOTIFY_EMAIL_FROM, to, subject, text, messageId: messageIdHeader });
    };
  } else {
    log.warn('SMTP_URL is not set: lifecycle notifications are not emailed');
  }

  if (config.SMS_ACCOUNT_SID && config.SMS_AUTH_TOKEN && config.SMS_FROM) {
    const { SMS_ACCOUNT_SID: sid, SMS_AUTH_TOKEN: token, SMS_FROM: from } = config;
    const url = `${config.SMS_API_URL.replace(/\/$/, '')}/2010-04-01/Accounts/${encodeURIComponent(sid)}/Messages.json`;
    const authorization = `Basic ${Buffer.from(`${sid}:${token}`).toString('base64')}`;
    notifier.sms = async (to, body) => {
      // Twilio's Messages API: a form POST with basic auth; 201 Created on success.
      const response = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ To: to, From: from, Body: body }).toString(),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await response.body.text();
      if (response.statusCode < 200 || response.statusCode >= 300) {
        throw new Error(`SMS API answered HTTP ${response.statusCode}: ${text.slice(0, 300)}`);
      }
    };
  } else {
    log.warn('SMS_ACCOUNT_SID, SMS_AUTH_TOKEN and SMS_FROM are not set: lifecycle notifications are not sent by SMS');
  }

  if (config.HOOKFLOW_OPS_WEBHOOK_URL && config.HOOKFLOW_OPS_WEBHOOK_SECRET) {
    const { HOOKFLOW_OPS_WEBHOOK_URL: url, HOOKFLOW_OPS_WEBHOOK_SECRET: secret } = config;
    notifier.ops = async (id, eventType, payload) => {
      const now = new Date();
      const webhook = buildWebhookRequest({ secrets: [secret], messageId: id, eventType, occurredAt: now, payload, now });
      const result = await postWebhook(agent, url, webhook.headers, webhook.body, { timeoutMs: 15_000, bodyLimit: 1024 });
      if (!result.ok) throw new Error(`operator webhook failed: ${result.error}`);
    };
  } else {
    log.warn('HOOKFLOW_OPS_WEBHOOK_URL is not set: lifecycle events are not posted to an operator webhook');
  }

  return notifier;
}
