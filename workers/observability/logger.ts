import { pino } from 'pino';
import type { Logger } from '../core/types.js';

/** Structured JSON logs; secret-bearing fields are redacted at the logger. */
export function createLogger(
  level: string,
  bindings: Record<string, unknown> = {},
): Logger & { child(b: object): Logger } {
  return pino({
    level,
    base: { ...bindings },
    redact: {
      paths: ['*.password', '*.url', '*.token', 'password', 'url', 'token', 'connectionString'],
      censor: '***',
    },
  });
}
