import os from 'node:os';
import path from 'node:path';
import ms from 'ms';
import { z } from 'zod';
import { parsePrivateAllowList, type UrlPolicy } from './webhooks/url-guard';
import { LIVE_DEFAULTS, type LiveConfig } from './live/service';

/** The project root: `.data/` and the FerretDB launcher are found relative to it. */
export const projectRoot = path.resolve(__dirname, '..');

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** A duration such as "7d", "1h" or "90s" (the `ms` package's syntax), as milliseconds. */
const duration = (min: number) =>
  z.string().transform((value, ctx) => {
    const parsed = ms(value.trim() as ms.StringValue);
    if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < min) {
      ctx.addIssue({ code: 'custom', message: `must be a duration of at least ${ms(min, { long: true })}, e.g. "7d", "1h" or "90s"` });
      return z.NEVER;
    }
    return parsed;
  });

const schema = z
  .object({
    PORT: port.default(4000),
    HOST: z.string().min(1).default('127.0.0.1'),
    LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),

    // Unset means "embedded": `npm start` runs a Temporal dev server itself.
    TEMPORAL_ADDRESS: optionalString,
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TEMPORAL_TASK_QUEUE: z.string().min(1).default('hookflow'),

    // Unset means "embedded": `npm start` runs FerretDB itself.
    MONGODB_URI: optionalString.refine((v) => v === undefined || /^mongodb(\+srv)?:\/\//.test(v), {
      message: 'must start with mongodb:// or mongodb+srv://',
    }),
    MONGODB_DB: z.string().min(1).default('hookflow'),

    HOOKFLOW_DATA_DIR: z.string().min(1).default(path.join(projectRoot, '.data')),
    /** The embedded Temporal server: the CLI's dev server, or tools/temporal (server v1.32.2; README "Benchmark"). */
    HOOKFLOW_TEMPORAL_SERVER: z.enum(['dev-server', 'launcher']).default('dev-server'),
    HOOKFLOW_CACHE_DIR: z
      .string()
      .min(1)
      .default(path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'hookflow')),
    HOOKFLOW_API_KEY: optionalString.refine((v) => v === undefined || v.length >= 16, {
      message: 'must be at least 16 characters',
    }),

    // The worker's /metrics, /healthz and /readyz (the API serves them on PORT); the Temporal SDK's own
    // Prometheus exporter (task slots, schedule-to-start, sticky cache), 0 for none.
    HOOKFLOW_METRICS: z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true'),
    HOOKFLOW_METRICS_PORT: port.default(9464),
    HOOKFLOW_SDK_METRICS_PORT: port.default(9465),

    HOOKFLOW_DEV_TEMPORAL_PORT: port.default(7233),
    HOOKFLOW_DEV_TEMPORAL_UI_PORT: port.default(8233),
    HOOKFLOW_DEV_MONGODB_PORT: port.default(27017),

    HOOKFLOW_MAX_PAYLOAD_BYTES: positiveInt.default(256 * 1024),
    HOOKFLOW_DELIVERY_TIMEOUT_MS: positiveInt.default(15_000),
    HOOKFLOW_RESPONSE_BODY_LIMIT: positiveInt.default(4096),

    // Messages older than this are deleted by the scheduled maintenance, which runs this often.
    HOOKFLOW_RETENTION: duration(60_000).default(ms('7d')),
    HOOKFLOW_MAINTENANCE_INTERVAL: duration(10_000).default(ms('1h')),
    // An ordering key with nothing queued keeps its sequence workflow this long, then it completes.
    HOOKFLOW_ORDERING_KEY_IDLE: duration(0).default(ms('1m')),

    // Security (README, "Security").
    HOOKFLOW_ADMIN_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 24, { message: 'must be at least 24 characters' }),
    HOOKFLOW_ENCRYPTION_KEY: optionalString.refine((v) => v === undefined || Buffer.from(v, 'base64').length === 32, {
      message: 'must be 32 random bytes, base64-encoded (openssl rand -base64 32)',
    }),
    HOOKFLOW_ALLOW_HTTP: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    HOOKFLOW_ALLOW_PRIVATE_URLS: optionalString.refine(
      (v) => {
        try {
          parsePrivateAllowList(v);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'must be "true", "false" or a comma-separated list of CIDR ranges, e.g. 10.0.0.0/8,fd00::/8' },
    ),
    HOOKFLOW_SECRET_ROTATION_OVERLAP: duration(0).default(ms('24h')),
    HOOKFLOW_MAX_REQUEST_BYTES: positiveInt.default(1024 * 1024),
    HOOKFLOW_MAX_IN_FLIGHT_PER_ENDPOINT: positiveInt.default(8),
    // Activities one worker runs at once. Each attempt writes to MongoDB; on FerretDB over SQLite (one
    // writer at a time) more of them only queue for its lock and starve the API's inserts.
    HOOKFLOW_WORKER_MAX_ACTIVITIES: positiveInt.default(20),
    /** Temporal's 5 s deadlock detection on every call into the workflow sandbox: off, for what it costs (src/worker.ts). */
    HOOKFLOW_WORKFLOW_WATCHDOG: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    /** `npm start` (API and worker in one process): start message workflows with eager workflow start. */
    HOOKFLOW_EAGER_START: z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true'),

    // Live subscriptions (README, "Live events").
    HOOKFLOW_SUBSCRIPTION_RETENTION: duration(60_000).default(ms('24h')),
    HOOKFLOW_LIVE_EVENTS_MAX_BYTES: positiveInt.min(1024 * 1024).default(256 * 1024 * 1024),
    HOOKFLOW_MAX_SUBSCRIPTIONS_PER_KEY: positiveInt.default(100),
    HOOKFLOW_SUBSCRIPTION_BUFFER: positiveInt.default(1000),

    // Notification channels of the failure lifecycle; each one left unset is skipped.
    SMTP_URL: optionalString.refine((v) => v === undefined || /^smtps?:\/\//.test(v), { message: 'must start with smtp:// or smtps://' }),
    NOTIFY_EMAIL_FROM: z.string().min(3).default('Hookflow <hookflow@localhost>'),
    SMS_API_URL: z.url().default('https://api.twilio.com'),
    SMS_ACCOUNT_SID: optionalString,
    SMS_AUTH_TOKEN: optionalString,
    SMS_FROM: optionalString,
    HOOKFLOW_OPS_WEBHOOK_URL: optionalString.refine((v) => v === undefined || URL.canParse(v), { message: 'must be an absolute URL' }),
    HOOKFLOW_OPS_WEBHOOK_SECRET: optionalString.refine((v) => v === undefined || v.startsWith('whsec_'), { message: 'must be a whsec_ secret' }),
  })
  .superRefine((c, ctx) => {
    const sms = [c.SMS_ACCOUNT_SID, c.SMS_AUTH_TOKEN, c.SMS_FROM];
    if (sms.some(Boolean) && !sms.every(Boolean)) {
      for (const [name, value] of [
        ['SMS_ACCOUNT_SID', c.SMS_ACCOUNT_SID],
        ['SMS_AUTH_TOKEN', c.SMS_AUTH_TOKEN],
        ['SMS_FROM', c.SMS_FROM],
      ] as const) {
        if (!value) ctx.addIssue({ code: 'custom', path: [name], message: 'is required when any SMS_* setting is set' });
      }
    }
    if (c.HOOKFLOW_OPS_WEBHOOK_URL && !c.HOOKFLOW_OPS_WEBHOOK_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['HOOKFLOW_OPS_WEBHOOK_SECRET'], message: 'is required with HOOKFLOW_OPS_WEBHOOK_URL, to sign its webhooks' });
    }
  });

export type Config = z.infer<typeof schema>;

export const urlPolicyOf = (config: Config): UrlPolicy => ({
  allowHttp: config.HOOKFLOW_ALLOW_HTTP,
  allowPrivate: parsePrivateAllowList(config.HOOKFLOW_ALLOW_PRIVATE_URLS),
});

export const liveConfigOf = (config: Config): LiveConfig => ({
  retentionMs: config.HOOKFLOW_SUBSCRIPTION_RETENTION,
  maxBytes: config.HOOKFLOW_LIVE_EVENTS_MAX_BYTES,
  maxSubscriptionsPerKey: config.HOOKFLOW_MAX_SUBSCRIPTIONS_PER_KEY,
  bufferSize: config.HOOKFLOW_SUBSCRIPTION_BUFFER,
  keyCheckIntervalMs: LIVE_DEFAULTS.keyCheckIntervalMs,
});

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the environment once; every problem names the variable that is wrong. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0]);
        const value = env[name];
        return `${name}: ${issue.message}${value === undefined ? '' : ` (got ${JSON.stringify(value)})`}`;
      }),
    );
  }
  return parsed.data;
}
