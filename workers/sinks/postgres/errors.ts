import { errorMessage, PipelineError } from '../../core/errors.js';
import { isProgrammingError } from '../shared/programming-error.js';
import { postgresTlsProblem } from './connection.js';

/**
 * Retry classification of Postgres/pg/knex errors, by SQLSTATE class where the server sent one.
 * Transient (retryable): the connection or the server is unavailable or overloaded, or the
 * transaction lost a race. Terminal: the statement can never succeed as is (schema, privileges,
 * authentication, data). Unknown server errors are retried; the engine bounds retries.
 *
 * Stable codes:
 * - SINK_UNAVAILABLE: cannot connect, connection lost, server shutting down (08xxx, 57P0x, ECONNREFUSED…)
 * - SINK_CONFLICT: serialization failure 40001, deadlock 40P01, lock not available 55P03
 * - SINK_OVERLOADED: too many connections 53300 and other insufficient-resources 53xxx, timeouts
 * - SINK_TLS: TLS failed: an untrusted or expired server certificate, one that does not name the host
 *   (tls.mode verify-full), a server without TLS, or a server that requires TLS of a client without
 *   (28000 "no encryption"); never retried: the configuration must change
 * - SINK_AUTH: authentication or authorization failure 28xxx
 * - SINK_PERMISSION: insufficient privilege 42501
 * - SINK_SCHEMA: undefined table/column and other syntax-or-access-rule errors 42xxx, 3D000, 3F000
 * - SINK_DATA: a value the column rejects 22xxx, or an integrity violation 23xxx
 * - SINK_ERROR: anything else
 */
export type PostgresErrorCode =
  | 'SINK_UNAVAILABLE'
  | 'SINK_CONFLICT'
  | 'SINK_OVERLOADED'
  | 'SINK_TLS'
  | 'SINK_AUTH'
  | 'SINK_PERMISSION'
  | 'SINK_SCHEMA'
  | 'SINK_DATA'
  | 'SINK_ERROR';

export interface Classification {
  code: PostgresErrorCode;
  retryable: boolean;
  /** SQLSTATE or Node error code, when there is one. */
  sqlstate: string | undefined;
}

const NODE_CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

const CONNECTION_MESSAGES = [
  /connection terminated/i,
  /connection ended unexpectedly/i,
  /terminating connection/i,
  /client has encountered a connection error/i,
  /Connection terminated due to connection timeout/i,
];

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** The innermost error carrying a code: knex and our own wrappers keep the driver error as `cause`. */
function driverError(err: unknown): unknown {
  let cur = err;
  for (let depth = 0; depth < 5 && typeof cur === 'object' && cur !== null; depth++) {
    if (codeOf(cur) !== undefined) return cur;
    const errors = (cur as { errors?: unknown }).errors; // AggregateError (dual-stack connect)
    if (Array.isArray(errors) && errors.length > 0) return driverError(errors[0]);
    cur = (cur as { cause?: unknown }).cause;
  }
  return err;
}

export function classifyPostgresError(err: unknown): Classification {
  const inner = driverError(err);
  const code = codeOf(inner);
  const c = (name: PostgresErrorCode, retryable: boolean): Classification => ({
    code: name,
    retryable,
    sqlstate: code,
  });
  if (postgresTlsProblem(inner, code) !== undefined) return c('SINK_TLS', false);
  if (code !== undefined) {
    if (NODE_CONNECTION_CODES.has(code)) return c('SINK_UNAVAILABLE', true);
    if (/^[0-9A-Z]{5}$/.test(code)) {
      const cls = code.slice(0, 2);
      if (cls === '08' || code === '57P01' || code === '57P02' || code === '57P03')
        return c('SINK_UNAVAILABLE', true);
      if (code === '40001' || code === '40P01' || code === '55P03') return c('SINK_CONFLICT', true);
      if (cls === '53' || code === '57014') return c('SINK_OVERLOADED', true);
      if (cls === '28') return c('SINK_AUTH', false);
      if (code === '42501') return c('SINK_PERMISSION', false);
      if (cls === '42' || code === '3D000' || code === '3F000') return c('SINK_SCHEMA', false);
      if (cls === '22' || cls === '23') return c('SINK_DATA', false);
      return c('SINK_ERROR', true);
    }
  }
  const name = inner instanceof Error ? inner.name : '';
  if (name === 'KnexTimeoutError') return c('SINK_OVERLOADED', true);
  const msg = errorMessage(inner);
  if (CONNECTION_MESSAGES.some((re) => re.test(msg))) return c('SINK_UNAVAILABLE', true);
  if (isProgrammingError(inner)) return c('SINK_ERROR', false);
  return c('SINK_ERROR', true);
}

/** `[SQLSTATE]: message`, a TLS failure in words (see postgresTlsProblem). */
export function postgresErrorDetail(err: unknown, k: Classification): string {
  const state = k.sqlstate ? ` [${k.sqlstate}]` : '';
  const tls = k.code === 'SINK_TLS' ? postgresTlsProblem(driverError(err), k.sqlstate) : undefined;
  return `${state}: ${tls ?? errorMessage(err)}`;
}

/** Wraps any error of the Postgres client into a classified PipelineError (PipelineErrors pass through). */
export function toPipelineError(
  err: unknown,
  where: { table: string; pipeline?: string; action: string; position?: string },
): PipelineError {
  if (PipelineError.is(err)) return err;
  const k = classifyPostgresError(err);
  return new PipelineError(`postgres ${where.table}: ${where.action} failed${postgresErrorDetail(err, k)}`, {
    code: k.code,
    stage: 'sink',
    retryable: k.retryable,
    ...(where.pipeline === undefined ? {} : { pipeline: where.pipeline }),
    ...(where.position === undefined ? {} : { position: where.position }),
    context: { table: where.table, sqlstate: k.sqlstate },
    cause: err,
  });
}
