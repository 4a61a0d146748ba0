/**
 * The local stack's authenticated, encrypted endpoints (infra/local/lib/certs.sh and the
 * services' TLS / SASL / ACL set-up), from the variables `infra/local/stack up` writes to
 * .stack/env. Missing variables fail the test that asks, naming them: the security tests never skip.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SecureStack {
  /** The throw-away CA that signed every server certificate of the stack. */
  caFile: string;
  kafkaSaslBrokers: string;
  kafkaUser: string;
  kafkaPasswordFile: string;
  /** postgres://streamscore_tls@127.0.0.1:<port>/streamscore: a role that may only log in over TLS. */
  pgTlsUrl: string;
  pgPasswordFile: string;
  /** rediss://streamscore@127.0.0.1:<tls port>: the ACL user on the TLS-only port. */
  redisTlsUrl: string;
  redisPasswordFile: string;
}

const VARS = {
  caFile: 'STACK_CA_FILE',
  kafkaSaslBrokers: 'KAFKA_SASL_BROKERS',
  kafkaUser: 'KAFKA_SASL_USERNAME',
  kafkaPasswordFile: 'KAFKA_SASL_PASSWORD_FILE',
  pgTlsUrl: 'DATABASE_TLS_URL',
  pgPasswordFile: 'DATABASE_TLS_PASSWORD_FILE',
  redisTlsUrl: 'REDIS_TLS_URL',
  redisPasswordFile: 'REDIS_TLS_PASSWORD_FILE',
} as const;

export function secureStack(): SecureStack {
  const missing = Object.values(VARS).filter((v) => !process.env[v]);
  if (missing.length > 0) {
    throw new Error(
      `${missing.join(', ')} not set: these tests need the local stack's TLS / SASL / ACL endpoints; start it with \`make stack-up\` and load .stack/env (make test does both)`,
    );
  }
  return Object.fromEntries(
    Object.entries(VARS).map(([k, v]) => [k, process.env[v]!]),
  ) as unknown as SecureStack;
}

/** A secret file's content without its final newline (as `${file:…}` reads it). */
export const readSecret = (file: string): string => readFileSync(file, 'utf8').replace(/\r?\n$/, '');

/** A CA of the test's own (openssl), which signed nothing the stack serves: a "wrong CA" file. */
export function otherCa(): string {
  const dir = mkdtempSync(join(tmpdir(), 'streamscore-other-ca-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=not the stack CA',
      '-keyout',
      join(dir, 'ca.key'),
      '-out',
      join(dir, 'ca.pem'),
    ],
    { stdio: 'ignore' },
  );
  return join(dir, 'ca.pem');
}

/** The same URL under another host name that reaches the same server: `localhost` for 127.0.0.1. */
export function viaLocalhost(url: string): string {
  return url.replace('@127.0.0.1:', '@localhost:').replace(/^127\.0\.0\.1:/, 'localhost:');
}
