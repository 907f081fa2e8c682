import pino, { type Logger } from 'pino';

/** Structured JSON logs; credentials never reach them. */
export function createLogger(level: string, name = 'hookflow'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', 'secret', '*.secret', 'apiKey', '*.apiKey'],
      censor: '[redacted]',
    },
  });
}
