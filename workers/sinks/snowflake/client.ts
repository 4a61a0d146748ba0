import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type snowflake from 'snowflake-sdk';
import { errorMessage, PipelineError } from '../../core/errors.js';
import type { Logger } from '../../core/types.js';
import type { SnowflakeSinkConfig } from './config.js';

/** A value bound to a `?` placeholder; the sink binds everything as text (or null). */
export type BindValue = string | null;

export interface ExecuteOptions {
  /** One value per `?`, or one such array per row (array binding: the statement runs for every row). */
  binds?: readonly BindValue[] | readonly (readonly BindValue[])[];
  /** QUERY_TAG of this statement (sent as a statement parameter, no extra round trip). */
  tag?: string;
}

/**
 * One Snowflake session, as the sink uses it: statements run one at a time, rows come back as
 * objects keyed by column name. Implemented over snowflake-sdk by `snowflakeConnector`; tests may
 * pass their own.
 */
export interface SnowflakeSession {
  execute(sql: string, options?: ExecuteOptions): Promise<Record<string, unknown>[]>;
  /** Ends the session (logs out); never rejects. */
  close(): Promise<void>;
}

/** Logs in and returns a new session. Called by the sink at open, and again after a lost session. */
export type SnowflakeConnector = () => Promise<SnowflakeSession>;

/** The driver options (minus secrets) for the config, for logs and tests. */
export function connectionOptions(config: SnowflakeSinkConfig): snowflake.ConnectionOptions {
  const opts: snowflake.ConnectionOptions = {
    account: config.account,
    username: config.user,
    database: config.database.toUpperCase(),
    schema: config.schema.toUpperCase(),
    ...(config.role === undefined ? {} : { role: config.role }),
    ...(config.warehouse === undefined ? {} : { warehouse: config.warehouse }),
    // The session would otherwise expire after 4 idle hours; the sink keeps one session open.
    clientSessionKeepAlive: true,
    arrayBindingThreshold: config.array_binding_threshold,
    // Login retries are the engine's job (with back-off, while the source pauses).
    sfRetryMaxLoginRetries: 2,
  };
  if (config.host !== undefined || config.port !== undefined || config.protocol !== 'https') {
    const host = config.host ?? `${config.account}.snowflakecomputing.com`;
    const port = config.port ?? (config.protocol === 'https' ? 443 : 80);
    opts.host = host;
    opts.accessUrl = `${config.protocol}://${host}:${port}`;
  }
  return opts;
}

function keyError(what: string, err: unknown): PipelineError {
  return new PipelineError(`snowflake sink: ${what}: ${errorMessage(err)}`, {
    code: 'SINK_AUTH',
    stage: 'sink',
    retryable: false,
    cause: err,
  });
}

/**
 * The private key of key-pair auth as PEM text. Read and checked here, so a missing file or a wrong
 * passphrase fails at start-up with a message naming the file, instead of inside the driver.
 */
export async function loadPrivateKey(
  auth: { private_key_file: string } | { private_key: { reveal(): string } },
  passphrase: string | undefined,
): Promise<string> {
  let pem: string;
  const source =
    'private_key_file' in auth ? `private key file ${auth.private_key_file}` : 'auth.private_key';
  if ('private_key_file' in auth) {
    try {
      pem = await readFile(auth.private_key_file, 'utf8');
    } catch (err) {
      throw keyError(`expected a readable ${source}, could not read it`, err);
    }
  } else {
    pem = auth.private_key.reveal();
  }
  pem = `${pem.trim()}\n`;
  try {
    createPrivateKey({ key: pem, format: 'pem', ...(passphrase === undefined ? {} : { passphrase }) });
  } catch (err) {
    const encrypted = pem.includes('ENCRYPTED');
    throw keyError(
      encrypted && passphrase === undefined
        ? `${source} is encrypted: expected auth.private_key_passphrase, got none`
        : encrypted
          ? `${source}: expected auth.private_key_passphrase to decrypt it, the key did not decrypt`
          : `${source}: expected a PEM private key (PKCS#8 or PKCS#1)`,
      err,
    );
  }
  return pem;
}

/** Adds the credentials (revealed here, at the driver boundary) to the options. */
async function withCredentials(
  config: SnowflakeSinkConfig,
  opts: snowflake.ConnectionOptions,
): Promise<snowflake.ConnectionOptions> {
  const a = config.auth;
  if ('password' in a) return { ...opts, password: a.password.reveal() };
  if ('oauth_token' in a) return { ...opts, authenticator: 'OAUTH', token: a.oauth_token.reveal() };
  const passphrase = a.private_key_passphrase?.reveal();
  const privateKey = await loadPrivateKey(a, passphrase);
  return {
    ...opts,
    authenticator: 'SNOWFLAKE_JWT',
    privateKey,
    ...(passphrase === undefined ? {} : { privateKeyPass: passphrase }),
  };
}

type Driver = typeof snowflake;

/**
 * snowflake-sdk, loaded on first use: importing it takes over a second (it pulls in the cloud storage
 * SDKs), which every CLI command would otherwise pay, Snowflake sink or not.
 */
async function loadDriver(): Promise<Driver> {
  return (await import('snowflake-sdk')).default;
}

/**
 * Routes the driver's own log lines to the pipeline logger (driver errors at warn, the rest at
 * debug) instead of its default `snowflake.log` file. The driver's logging is process-wide, so the
 * last sink that connected decides which logger receives it.
 */
export function configureDriverLogging(driver: Driver, logger: Logger): void {
  const line = (level: 'warn' | 'debug') => (message: string) =>
    logger[level]({ component: 'snowflake-sdk', driver_message: message }, 'Snowflake driver log.');
  driver.configure({
    logLevel: 'WARN',
    customLogger: {
      error: line('warn'),
      warn: line('debug'),
      info: line('debug'),
      debug: line('debug'),
      trace: line('debug'),
    },
  });
}

class DriverSession implements SnowflakeSession {
  constructor(
    private readonly conn: snowflake.Connection,
    private readonly statementTimeoutS: number | undefined,
  ) {}

  execute(sql: string, options: ExecuteOptions = {}): Promise<Record<string, unknown>[]> {
    const parameters: Record<string, unknown> = {};
    if (options.tag !== undefined) parameters['QUERY_TAG'] = options.tag;
    if (this.statementTimeoutS !== undefined)
      parameters['STATEMENT_TIMEOUT_IN_SECONDS'] = this.statementTimeoutS;
    return new Promise((resolve, reject) => {
      this.conn.execute({
        sqlText: sql,
        ...(options.binds === undefined ? {} : { binds: options.binds as snowflake.Binds }),
        ...(Object.keys(parameters).length > 0 ? { parameters } : {}),
        complete: (err, _stmt, rows) => {
          if (err) reject(err);
          else resolve((rows ?? []) as Record<string, unknown>[]);
        },
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.conn.destroy(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

/**
 * A connector that logs in with snowflake-sdk: one connection (one session) per call. `connect` is
 * wrapped in a callback promise because the driver's `connectAsync` resolves even when login fails.
 */
export function snowflakeConnector(
  config: SnowflakeSinkConfig,
  options: { logger: Logger },
): SnowflakeConnector {
  const base = connectionOptions(config);
  return async () => {
    const driver = await loadDriver();
    configureDriverLogging(driver, options.logger);
    const conn = driver.createConnection(await withCredentials(config, base));
    await new Promise<void>((resolve, reject) => {
      conn.connect((err) => (err ? reject(err) : resolve()));
    });
    return new DriverSession(conn, config.statement_timeout_s);
  };
}
