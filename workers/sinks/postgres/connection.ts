import { readFileSync } from 'node:fs';
import { type ConnectionOptions, checkServerIdentity, type PeerCertificate } from 'node:tls';
import { z } from 'zod';
import { errorMessage, PipelineError, type Stage } from '../../core/errors.js';
import type { Secret } from '../../core/secret.js';
import { isExpiredCert, isUntrustedChain } from '../../core/tls-errors.js';
import { secret } from '../../spec/fields.js';

/**
 * How a Postgres connection (the sink's, the backfill reader's) uses TLS. Explicit, because
 * node-postgres does not apply libpq's `sslmode` in a URL the way libpq does (node-postgres #2281:
 * `require` and `verify-ca` verify the host name, `prefer` means TLS or nothing): a URL with
 * sslmode / sslrootcert / sslcert / sslkey / ssl is refused, and these settings say what is meant.
 */
export const postgresTlsConfig = z
  .strictObject({
    mode: z
      .enum(['verify-full', 'verify-ca', 'require'])
      .default('verify-full')
      .describe(
        'verify-full (default): the server certificate must chain to ca_file (or the system CAs) and name the host connected to; verify-ca: chain only, any host name; require: encrypted, the certificate is not checked (protects against eavesdropping only). Without a tls block the connection is not encrypted.',
      ),
    ca_file: z
      .string()
      .min(1)
      .optional()
      .describe('PEM file with the CA certificates to trust; default: Node.js’ built-in CA list.'),
    cert_file: z.string().min(1).optional().describe('PEM client certificate (certificate authentication).'),
    key_file: z.string().min(1).optional().describe('PEM key of cert_file.'),
  })
  .refine((t) => (t.cert_file === undefined) === (t.key_file === undefined), {
    message: 'cert_file and key_file go together',
  })
  .describe('TLS to the server: explicit here, never from sslmode in the url.');
export type PostgresTlsConfig = z.output<typeof postgresTlsConfig>;

/** The connection fields the Postgres sink and table source share. */
export const postgresConnectionFields = {
  password: secret()
    .optional()
    .describe(
      'Password, e.g. ${file:/run/secrets/pg-password}; used instead of one in the url (no URL-encoding needed).',
    ),
  tls: postgresTlsConfig.optional(),
};

export interface PostgresConnectionConfig {
  url: Secret;
  password?: Secret | undefined;
  tls?: PostgresTlsConfig | undefined;
}

/** URL query parameters through which node-postgres would turn on (its own idea of) TLS. */
const URL_TLS_PARAMS = ['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey', 'sslpassword', 'sslcrl'];

export const POSTGRES_TLS_CONFIG = 'POSTGRES_TLS_CONFIG';

/**
 * pg client options for a connection: its url, password and TLS settings. Throws a PipelineError
 * (POSTGRES_TLS_CONFIG) for a url carrying TLS parameters, or a TLS file that cannot be read.
 */
export function postgresClientOptions(
  cfg: PostgresConnectionConfig,
  stage: Stage = 'sink',
): { connectionString: string; ssl: false | ConnectionOptions } {
  const url = cfg.url.reveal();
  const inUrl = urlTlsParams(url);
  if (inUrl.length > 0) {
    throw new PipelineError(
      `postgres: the url sets ${inUrl.join(', ')}, which node-postgres does not apply as libpq does (node-postgres #2281); remove it and set tls: { mode: verify-full, ca_file: … } on the connection instead`,
      { code: POSTGRES_TLS_CONFIG, stage, retryable: false },
    );
  }
  return {
    connectionString: cfg.password === undefined ? url : withPassword(url, cfg.password.reveal()),
    ssl: cfg.tls === undefined ? false : tlsOptions(cfg.tls, stage),
  };
}

/**
 * The password goes into the url: node-postgres lets every field of a connection string win over
 * the options beside it, an absent password included (it would then send none).
 */
function withPassword(url: string, password: string): string {
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  return u.toString();
}

function urlTlsParams(url: string): string[] {
  let params: URLSearchParams;
  try {
    params = new URL(url).searchParams;
  } catch {
    return [];
  }
  return URL_TLS_PARAMS.filter((p) => params.has(p));
}

function readPem(file: string, what: string, stage: Stage): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new PipelineError(`postgres: cannot read tls.${what} '${file}': ${errorMessage(err)}`, {
      code: POSTGRES_TLS_CONFIG,
      stage,
      retryable: false,
    });
  }
}

function tlsOptions(t: PostgresTlsConfig, stage: Stage): ConnectionOptions {
  const files = {
    ...(t.ca_file === undefined ? {} : { ca: readPem(t.ca_file, 'ca_file', stage) }),
    ...(t.cert_file === undefined ? {} : { cert: readPem(t.cert_file, 'cert_file', stage) }),
    ...(t.key_file === undefined ? {} : { key: readPem(t.key_file, 'key_file', stage) }),
  };
  switch (t.mode) {
    case 'verify-full':
      return { ...files, rejectUnauthorized: true, checkServerIdentity: verifyFullIdentity };
    case 'verify-ca':
      return { ...files, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'require':
      return { ...files, rejectUnauthorized: false };
  }
}

/** Node's host-name check, its failure worded as what failed: verify-full's host name. */
function verifyFullIdentity(host: string, cert: PeerCertificate): Error | undefined {
  const err = checkServerIdentity(host, cert);
  if (err === undefined) return undefined;
  const names = cert.subjectaltname ? ` (it names ${cert.subjectaltname})` : '';
  return Object.assign(
    new Error(`TLS verify-full failed: host name ${host} does not match the server certificate${names}`),
    { code: (err as NodeJS.ErrnoException).code ?? 'ERR_TLS_CERT_ALTNAME_INVALID' },
  );
}

/**
 * A TLS failure of a Postgres connection, in words (undefined for any other error): the server's
 * certificate is not trusted, does not name the host, has expired; the server speaks no TLS; or
 * it requires TLS of a client that connected without (pg_hba `hostssl` only: "no encryption").
 */
export function postgresTlsProblem(err: unknown, code: string | undefined): string | undefined {
  const msg = errorMessage(err);
  if (code === undefined) {
    if (/server does not support SSL/i.test(msg))
      return 'TLS refused: the server does not support TLS connections (tls is set on this connection)';
    return undefined;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return msg.startsWith('TLS verify-full failed') ? msg : `TLS verify-full failed: ${msg}`;
  if (isUntrustedChain(code))
    return `TLS failed: the server certificate is not signed by a trusted CA (${msg}); tls.ca_file must name the CA that signed it`;
  if (isExpiredCert(code)) return `TLS failed: the server certificate is not valid now (${msg})`;
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return `TLS failed: ${msg}`;
  if (code === '28000' && /no encryption/.test(msg))
    return `${msg} — the server accepts this user over TLS only: set tls on the connection`;
  return undefined;
}
