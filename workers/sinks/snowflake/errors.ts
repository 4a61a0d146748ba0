import { errorMessage, PipelineError } from '../../core/errors.js';
import { isProgrammingError } from '../shared/programming-error.js';

/**
 * Retry classification of snowflake-sdk errors, from the error's `code` (a Snowflake error number as
 * a 6-digit string, or a driver error number), its `sqlState`, the HTTP status of a failed request,
 * and Node's network error codes in the `cause` chain. Transient errors are retried by the engine
 * with back-off while the source pauses; terminal ones stop the worker with a message saying what to fix.
 * Unknown errors are retried (the engine bounds the retries).
 *
 * Stable codes (shared with the Postgres sink):
 * - SINK_UNAVAILABLE: network failures, HTTP 5xx, session/token expiry (390104/390111/390112/390114),
 *   warehouse suspended or resuming, internal errors (000603), cancelled statements (000604)
 * - SINK_OVERLOADED: HTTP 429, statement or warehouse timeout (000630), queueing limits
 * - SINK_CONFLICT: lock wait timeout (000625), deadlock or serialization failure (sqlState 40001)
 * - SINK_AUTH: wrong user/password 390100, user locked 390101/390102, invalid JWT 390144,
 *   invalid/expired OAuth token 390303/390318, HTTP 401/403, an unreadable private key
 * - SINK_PERMISSION: insufficient privileges 003001 (42501), no usable warehouse 000606
 * - SINK_SCHEMA: object does not exist or not authorized 002003/002043 (42S02/02000), invalid
 *   identifier 000904, other SQL compilation errors (42xxx)
 * - SINK_DATA: a value the column rejects (22xxx, e.g. 100035/100038), constraint violations (23xxx)
 * - SINK_CONFIG_INVALID: connection options the driver rejects (404xxx), unknown account (HTTP 404)
 * - SINK_ERROR: anything else
 */
export type SnowflakeErrorCode =
  | 'SINK_UNAVAILABLE'
  | 'SINK_OVERLOADED'
  | 'SINK_CONFLICT'
  | 'SINK_AUTH'
  | 'SINK_PERMISSION'
  | 'SINK_SCHEMA'
  | 'SINK_DATA'
  | 'SINK_CONFIG_INVALID'
  | 'SINK_ERROR';

export interface SnowflakeClassification {
  code: SnowflakeErrorCode;
  retryable: boolean;
  /** Snowflake error number, driver error number or Node error code, when there is one. */
  sfCode: string | undefined;
  sqlState: string | undefined;
  /** What to do about it, for terminal errors. */
  hint: string | undefined;
  /** The session is unusable: drop it and log in again before retrying. */
  reconnect: boolean;
}

/** Driver error numbers (snowflake-sdk `ErrorCode`). */
const DRIVER = {
  NETWORK: 401001,
  RESPONSE_FAILURE: 401002,
  RESPONSE_NOT_JSON: 401003,
  INVALID_TOKEN: 401004,
  LARGE_RESULT_NETWORK: 402001,
  LARGE_RESULT_RESPONSE: 402002,
  REQUEST_DISCONNECTED: 407002,
} as const;

const SESSION_CODES = new Set(['390104', '390111', '390112', '390114', '390195']);

const AUTH_HINTS: Record<string, string> = {
  '390100': 'check user and auth.password (the login name, not the display name)',
  '390101':
    'the user is locked or disabled: ask an administrator to unlock it (ALTER USER … SET DISABLED = FALSE)',
  '390102': 'the user is temporarily locked after failed logins: wait, or ask an administrator to unlock it',
  '390144':
    "the JWT was rejected: the user's RSA_PUBLIC_KEY must match auth.private_key(_file) " +
    '(ALTER USER … SET RSA_PUBLIC_KEY = …), and account/user must be the exact identifiers',
  '390303': 'the OAuth access token is invalid: provide a valid auth.oauth_token',
  '390318': 'the OAuth access token has expired: provide a fresh auth.oauth_token and restart',
};

const NODE_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

interface ErrorShape {
  code?: unknown;
  sqlState?: unknown;
  response?: { status?: unknown; statusCode?: unknown };
  cause?: unknown;
  message?: unknown;
}

const shape = (err: unknown): ErrorShape =>
  typeof err === 'object' && err !== null ? (err as ErrorShape) : {};

/** The first Node/axios network error code in the cause chain. */
function networkCode(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let depth = 0; depth < 6 && typeof cur === 'object' && cur !== null; depth++) {
    const code = shape(cur).code;
    if (typeof code === 'string' && NODE_NETWORK_CODES.has(code)) return code;
    cur = shape(cur).cause;
  }
  return undefined;
}

/** The driver error: our wrappers keep it as `cause`. */
function driverError(err: unknown): unknown {
  let cur: unknown = err;
  for (let depth = 0; depth < 4 && typeof cur === 'object' && cur !== null; depth++) {
    if (shape(cur).code !== undefined) return cur;
    cur = shape(cur).cause;
  }
  return err;
}

function httpStatus(err: ErrorShape): number | undefined {
  const s = err.response?.status ?? err.response?.statusCode;
  if (typeof s === 'number') return s;
  const m = typeof err.message === 'string' ? /status(?: code)? (\d{3})/i.exec(err.message) : null;
  return m ? Number(m[1]) : undefined;
}

export function classifySnowflakeError(err: unknown): SnowflakeClassification {
  const inner = driverError(err);
  const e = shape(inner);
  const rawCode = e.code;
  const code =
    typeof rawCode === 'number' ? String(rawCode) : typeof rawCode === 'string' ? rawCode : undefined;
  const sqlState = typeof e.sqlState === 'string' ? e.sqlState : undefined;
  const msg = errorMessage(inner);
  const c = (
    name: SnowflakeErrorCode,
    retryable: boolean,
    hint?: string,
    reconnect = false,
  ): SnowflakeClassification => ({
    code: name,
    retryable,
    sfCode: code,
    sqlState,
    hint,
    reconnect: reconnect || (retryable && name === 'SINK_UNAVAILABLE'),
  });

  const net = networkCode(inner);
  if (net !== undefined) return { ...c('SINK_UNAVAILABLE', true), sfCode: code ?? net };

  if (typeof rawCode === 'number') {
    if (rawCode === DRIVER.NETWORK || rawCode === DRIVER.LARGE_RESULT_NETWORK)
      return c('SINK_UNAVAILABLE', true);
    if (rawCode === DRIVER.INVALID_TOKEN || rawCode === DRIVER.REQUEST_DISCONNECTED)
      return c('SINK_UNAVAILABLE', true, undefined, true);
    if (
      rawCode === DRIVER.RESPONSE_FAILURE ||
      rawCode === DRIVER.RESPONSE_NOT_JSON ||
      rawCode === DRIVER.LARGE_RESULT_RESPONSE
    ) {
      const status = httpStatus(e);
      if (status === 429) return c('SINK_OVERLOADED', true);
      if (status === 401 || status === 403)
        return c('SINK_AUTH', false, 'the server refused the credentials: check account, user and auth');
      if (status === 404)
        return c(
          'SINK_CONFIG_INVALID',
          false,
          'no such account endpoint: check account (orgname-accountname) and host',
        );
      return c('SINK_UNAVAILABLE', true);
    }
    if (rawCode >= 404000 && rawCode < 405000) {
      return c(
        'SINK_CONFIG_INVALID',
        false,
        'the driver rejected a connection option: check the sink config',
      );
    }
  }

  if (code !== undefined && /^\d{6}$/.test(code)) {
    const authHint = AUTH_HINTS[code];
    if (authHint !== undefined) return c('SINK_AUTH', false, authHint);
    if (SESSION_CODES.has(code)) return c('SINK_UNAVAILABLE', true, undefined, true);
    if (code.startsWith('390')) {
      if (/does not exist|not authorized/i.test(msg))
        return c('SINK_SCHEMA', false, 'check database, schema, role and warehouse names and grants');
      return c('SINK_UNAVAILABLE', true, undefined, true);
    }
    if (code === '003001' || sqlState === '42501') {
      return c(
        'SINK_PERMISSION',
        false,
        'grant the role the privileges listed in the Snowflake sink README (USAGE on warehouse, database ' +
          'and schema; SELECT, INSERT, UPDATE, DELETE on the tables; CREATE TABLE on the schema)',
      );
    }
    if (code === '000606') {
      return c(
        'SINK_PERMISSION',
        false,
        'no usable warehouse: set warehouse and GRANT USAGE ON WAREHOUSE to the role (or give the user a default warehouse)',
      );
    }
    if (code === '002003' || code === '002043' || sqlState === '42S02' || sqlState === '02000') {
      return c(
        'SINK_SCHEMA',
        false,
        'the object does not exist or the role cannot see it: check database/schema/table names, ' +
          'USAGE on the database and schema, and privileges on the table (or set create_table: true)',
      );
    }
    if (code === '000630') return c('SINK_OVERLOADED', true);
    if (code === '000625' || sqlState === '40001') return c('SINK_CONFLICT', true);
    if (code === '000603' || code === '000604') return c('SINK_UNAVAILABLE', true, undefined, true);
  }
  if (/warehouse .*(suspend|resum)|is (suspended|resuming)/i.test(msg)) return c('SINK_UNAVAILABLE', true);
  if (sqlState !== undefined) {
    const cls = sqlState.slice(0, 2);
    if (cls === '08') return c('SINK_UNAVAILABLE', true, undefined, true);
    if (cls === '40') return c('SINK_CONFLICT', true);
    if (cls === '57') return c('SINK_OVERLOADED', true);
    if (cls === '28') return c('SINK_AUTH', false, 'check user and auth');
    if (cls === '22' || cls === '23')
      return c(
        'SINK_DATA',
        false,
        'a value does not fit its column: compare the column types with the sink DDL',
      );
    if (cls === '42')
      return c(
        'SINK_SCHEMA',
        false,
        'SQL compilation failed: the table does not match what the sink writes; compare it with the sink DDL',
      );
  }
  if (isProgrammingError(inner)) return c('SINK_ERROR', false);
  return c('SINK_ERROR', true);
}

/** Wraps any error of the Snowflake client into a classified PipelineError (PipelineErrors pass through). */
export function toSnowflakePipelineError(
  err: unknown,
  where: { table: string; pipeline?: string; action: string; position?: string },
): PipelineError {
  if (PipelineError.is(err)) return err;
  const k = classifySnowflakeError(err);
  const tag = k.sfCode ? ` [${k.sfCode}${k.sqlState ? `/${k.sqlState}` : ''}]` : '';
  const fix = k.hint && !k.retryable ? `; to fix: ${k.hint}` : '';
  return new PipelineError(
    `snowflake ${where.table}: ${where.action} failed${tag}: ${errorMessage(err)}${fix}`,
    {
      code: k.code,
      stage: 'sink',
      retryable: k.retryable,
      ...(where.pipeline === undefined ? {} : { pipeline: where.pipeline }),
      ...(where.position === undefined ? {} : { position: where.position }),
      context: {
        table: where.table,
        snowflake_code: k.sfCode,
        sql_state: k.sqlState,
        reconnect: k.reconnect,
      },
      cause: err,
    },
  );
}
