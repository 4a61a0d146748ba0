import { pino } from 'pino';
import type { Logger } from '../core/types.js';
import { prettyDestination } from './pretty.js';

/** `json`: one pino JSON object per line (for collectors); `pretty`: one readable line per entry. */
export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];
/** The environment variable a `--log-format` flag falls back to (fleet workers inherit it). */
export const LOG_FORMAT_ENV = 'STREAMSCORE_LOG_FORMAT';

/**
 * The log format: the flag, else STREAMSCORE_LOG_FORMAT, else pretty when stdout is a terminal and
 * JSON when it is not (a file, a pipe, a container's log collector).
 */
export function resolveLogFormat(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  tty: boolean = process.stdout.isTTY === true,
): LogFormat {
  const wanted = flag ?? env[LOG_FORMAT_ENV];
  if (wanted === undefined || wanted === '') return tty ? 'pretty' : 'json';
  if ((LOG_FORMATS as readonly string[]).includes(wanted)) return wanted as LogFormat;
  const from = flag !== undefined ? '--log-format' : LOG_FORMAT_ENV;
  throw new Error(`${from}: expected ${LOG_FORMATS.join(' or ')}, got '${wanted}'`);
}

/** Structured logs (JSON, or pretty lines for people); secret-bearing fields are redacted at the logger. */
export function createLogger(
  level: string,
  bindings: Record<string, unknown> = {},
  format: LogFormat = resolveLogFormat(undefined),
): Logger & { child(b: object): Logger } {
  const options = {
    level,
    base: { ...bindings },
    redact: {
      paths: ['*.password', '*.url', '*.token', 'password', 'url', 'token', 'connectionString'],
      censor: '***',
    },
  };
  if (format === 'json') return pino(options);
  const colour = process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined;
  return pino(options, prettyDestination(process.stdout, { colour, stacks: level === 'debug' }));
}
