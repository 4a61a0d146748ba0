import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { errorMessage, PipelineError } from '../core/errors.js';
import { redactUrl } from '../core/secret.js';
import { isExpiredCert, isUntrustedChain } from '../core/tls-errors.js';

/**
 * How the backfill reaches Redis (BullMQ), from the environment of `streamscore backfill` / `run`:
 *
 * - REDIS_URL: `redis://[user@]host:port[/db]`, or `rediss://…` for TLS (the host name is verified
 *   against the server certificate);
 * - REDIS_PASSWORD, or REDIS_PASSWORD_FILE naming a file that holds it (a mounted secret; its final
 *   newline is dropped): the password of the url's user (an ACL user; without one, `default`),
 *   used instead of a password in the url;
 * - REDIS_TLS_CA_FILE: PEM file with the CA certificates to trust for `rediss://` (default: Node.js'
 *   built-in list).
 */
export interface RedisSettings {
  url: string;
  password?: string | undefined;
  caFile?: string | undefined;
}

const DEFAULT_URL = 'redis://127.0.0.1:6379';

export function redisSettings(env: NodeJS.ProcessEnv = process.env): RedisSettings {
  const file = env['REDIS_PASSWORD_FILE'];
  let password = env['REDIS_PASSWORD'] || undefined;
  if (password === undefined && file) {
    try {
      password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw redisError(`cannot read REDIS_PASSWORD_FILE '${file}': ${errorMessage(err)}`, 'REDIS_CONFIG');
    }
  }
  return { url: env['REDIS_URL'] || DEFAULT_URL, password, caFile: env['REDIS_TLS_CA_FILE'] || undefined };
}

function redisError(message: string, code: string, cause?: unknown): PipelineError {
  return new PipelineError(`redis: ${message}`, {
    code,
    stage: 'backfill',
    retryable: false,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** ioredis' url and options for these settings (the password put into the url: ioredis lets a url's empty password win over an option). */
export function redisClientArgs(s: RedisSettings): { url: string; options: RedisOptions } {
  let u: URL;
  try {
    u = new URL(s.url);
  } catch {
    throw redisError(`REDIS_URL is not a URL: '${redactUrl(s.url)}'`, 'REDIS_CONFIG');
  }
  const tls = u.protocol === 'rediss:';
  if (!tls && u.protocol !== 'redis:')
    throw redisError(
      `REDIS_URL must start with redis:// or rediss:// (TLS), got ${u.protocol}//`,
      'REDIS_CONFIG',
    );
  if (s.caFile !== undefined && !tls)
    throw redisError(
      `REDIS_TLS_CA_FILE is set but REDIS_URL ${redactUrl(s.url)} is not TLS: use rediss://`,
      'REDIS_CONFIG',
    );
  if (s.password !== undefined) u.password = encodeURIComponent(s.password);
  let ca: string | undefined;
  if (s.caFile !== undefined) {
    try {
      ca = readFileSync(s.caFile, 'utf8');
    } catch (err) {
      throw redisError(`cannot read REDIS_TLS_CA_FILE '${s.caFile}': ${errorMessage(err)}`, 'REDIS_CONFIG');
    }
  }
  return {
    url: u.toString(),
    options: {
      maxRetriesPerRequest: null,
      lazyConnect: false,
      ...(tls ? { tls: ca === undefined ? {} : { ca } } : {}),
    },
  };
}

/**
 * A connection error that retrying cannot fix, in words (undefined otherwise): ioredis reconnects
 * forever, so without this a wrong CA or password would only show as a time-out.
 */
export function redisConnectProblem(
  err: unknown,
  tls: boolean,
  resets = 0,
): { code: string; message: string } | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  const msg = errorMessage(err);
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return {
      code: 'REDIS_TLS',
      message: `TLS failed: the host name does not match the server certificate (${msg})`,
    };
  if (isUntrustedChain(code))
    return {
      code: 'REDIS_TLS',
      message: `TLS failed: the server certificate is not signed by a trusted CA (${msg}); REDIS_TLS_CA_FILE must name the CA that signed it`,
    };
  if (isExpiredCert(code) || (typeof code === 'string' && code.startsWith('ERR_SSL_')))
    return { code: 'REDIS_TLS', message: `TLS failed: ${msg}` };
  if (/^(WRONGPASS|NOAUTH)\b/.test(msg) || /without any password configured/.test(msg))
    return {
      code: 'REDIS_AUTH',
      message: `authentication failed: ${msg} (REDIS_URL's user, REDIS_PASSWORD / REDIS_PASSWORD_FILE)`,
    };
  // a plaintext client on a TLS port: reset at every attempt (a restarting server refuses instead)
  if (!tls && code === 'ECONNRESET' && resets >= 3)
    return {
      code: 'REDIS_TLS',
      message: `the server reset a plaintext connection (${msg}): is this a TLS port? Use rediss:// (and REDIS_TLS_CA_FILE)`,
    };
  return undefined;
}

/**
 * The Redis connection BullMQ needs (no per-request retry limit), checked with a PING. A wrong CA,
 * host name or password, or a plaintext client on a TLS port, fails at once with an error naming
 * Redis and the setting to fix (code REDIS_TLS or REDIS_AUTH); no answer within timeoutMs fails too.
 */
export async function connectRedis(settings: RedisSettings, timeoutMs = 10_000): Promise<Redis> {
  const { url, options } = redisClientArgs(settings);
  const tls = options.tls !== undefined;
  const where = redactUrl(settings.url);
  const redis = new Redis(url, options);
  let timer: NodeJS.Timeout | undefined;
  let last: unknown;
  let resets = 0;
  let stop: ((err: unknown) => void) | undefined;
  const failed = new Promise<never>((_, reject) => {
    stop = reject;
  });
  // after the PING, BullMQ's own events report errors
  redis.on('error', (err: unknown) => {
    last = err;
    if ((err as { code?: unknown }).code === 'ECONNRESET') resets += 1;
    const p = redisConnectProblem(err, tls, resets);
    if (p) stop?.(redisError(`${where}: ${p.message}`, p.code, err));
  });
  try {
    await Promise.race([
      redis.ping(),
      failed,
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `Redis at ${where} did not answer within ${timeoutMs / 1000} s${last ? ` (last error: ${errorMessage(last)})` : ''}`,
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    redis.disconnect();
    const p = PipelineError.is(err) ? undefined : redisConnectProblem(err, tls, resets);
    throw p ? redisError(`${where}: ${p.message}`, p.code, err) : err;
  } finally {
    clearTimeout(timer);
    stop = undefined;
  }
  return redis;
}
