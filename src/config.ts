import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/** The project root: `.data/` and the FerretDB launcher are found relative to it. */
export const projectRoot = path.resolve(__dirname, '..');

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const schema = z.object({
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
  HOOKFLOW_CACHE_DIR: z
    .string()
    .min(1)
    .default(path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'hookflow')),
  HOOKFLOW_API_KEY: optionalString.refine((v) => v === undefined || v.length >= 16, {
    message: 'must be at least 16 characters',
  }),

  HOOKFLOW_DEV_TEMPORAL_PORT: port.default(7233),
  HOOKFLOW_DEV_TEMPORAL_UI_PORT: port.default(8233),
  HOOKFLOW_DEV_MONGODB_PORT: port.default(27017),

  HOOKFLOW_MAX_PAYLOAD_BYTES: positiveInt.default(256 * 1024),
  HOOKFLOW_DELIVERY_TIMEOUT_MS: positiveInt.default(15_000),
  HOOKFLOW_RESPONSE_BODY_LIMIT: positiveInt.default(4096),
});

export type Config = z.infer<typeof schema>;

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
