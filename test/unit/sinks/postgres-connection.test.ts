import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../workers/core/errors.js';
import { Secret } from '../../../workers/core/secret.js';
import {
  postgresClientOptions,
  postgresTlsConfig,
  postgresTlsProblem,
} from '../../../workers/sinks/postgres/connection.js';
import { classifyPostgresError } from '../../../workers/sinks/postgres/errors.js';

const URL0 = 'postgres://scorer@db.example:5432/app';
const ca = join(tmpdir(), `streamscore-unit-ca-${process.pid}.pem`);
writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n');

describe('postgres connection options', () => {
  it('no tls block: no TLS, whatever the environment says (ssl: false, not undefined)', () => {
    assert.deepEqual(postgresClientOptions({ url: new Secret(URL0) }), {
      connectionString: URL0,
      ssl: false,
    });
  });

  it('verify-full (the default) verifies the chain and the host name; verify-ca the chain only; require nothing', () => {
    const tls = postgresTlsConfig.parse({ ca_file: ca });
    assert.equal(tls.mode, 'verify-full');
    const full = postgresClientOptions({ url: new Secret(URL0), tls }).ssl;
    assert.ok(full);
    assert.equal(full.rejectUnauthorized, true);
    assert.match(String(full.ca), /not checked here/);
    assert.equal(typeof full.checkServerIdentity, 'function');
    const vca = postgresClientOptions({ url: new Secret(URL0), tls: { ...tls, mode: 'verify-ca' } }).ssl;
    assert.ok(vca);
    assert.equal(vca.rejectUnauthorized, true);
    assert.equal(vca.checkServerIdentity?.('other.host', {} as never), undefined, 'any host name');
    const req = postgresClientOptions({ url: new Secret(URL0), tls: { ...tls, mode: 'require' } }).ssl;
    assert.ok(req);
    assert.equal(req.rejectUnauthorized, false);
  });

  it('the password goes into the url, encoded (node-postgres lets the url win over a password option)', () => {
    const o = postgresClientOptions({ url: new Secret(URL0), password: new Secret('p@ss:w/rd%') });
    assert.equal(new URL(o.connectionString).password, encodeURIComponent('p@ss:w/rd%'));
    assert.equal(decodeURIComponent(new URL(o.connectionString).password), 'p@ss:w/rd%');
  });

  for (const param of ['sslmode=require', 'ssl=true', 'sslrootcert=/x.pem', 'sslcert=/c', 'sslkey=/k']) {
    it(`a url with ${param} is refused, pointing at tls`, () => {
      assert.throws(
        () => postgresClientOptions({ url: new Secret(`${URL0}?${param}`) }, 'backfill'),
        (err: unknown) =>
          PipelineError.is(err) &&
          err.code === 'POSTGRES_TLS_CONFIG' &&
          err.stage === 'backfill' &&
          err.message.includes(param.split('=')[0]!) &&
          /node-postgres #2281.*set tls: \{ mode: verify-full/.test(err.message),
      );
    });
  }

  it('an unreadable ca_file is a configuration error naming the setting', () => {
    assert.throws(
      () =>
        postgresClientOptions({
          url: new Secret(URL0),
          tls: { mode: 'verify-full', ca_file: '/nonexistent/ca.pem' },
        }),
      /postgres: cannot read tls\.ca_file '\/nonexistent\/ca\.pem'/,
    );
  });

  it('cert_file without key_file is a spec problem', () => {
    assert.equal(postgresTlsConfig.safeParse({ cert_file: '/c.pem' }).success, false);
  });
});

describe('postgres TLS failures', () => {
  const err = (code: string, message: string) => Object.assign(new Error(message), { code });

  it('are SINK_TLS and never retried', () => {
    for (const e of [
      err('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'),
      err('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"),
      err('CERT_HAS_EXPIRED', 'certificate has expired'),
      new Error('The server does not support SSL connections'),
      err(
        '28000',
        'pg_hba.conf rejects connection for host "1.2.3.4", user "u", database "d", no encryption',
      ),
    ]) {
      assert.deepEqual(
        { ...classifyPostgresError(e), sqlstate: undefined },
        { code: 'SINK_TLS', retryable: false, sqlstate: undefined },
        e.message,
      );
    }
  });

  it('a wrong password stays SINK_AUTH; a refused connection stays retryable', () => {
    assert.equal(classifyPostgresError(err('28P01', 'password authentication failed')).code, 'SINK_AUTH');
    assert.equal(classifyPostgresError(err('ECONNREFUSED', 'connect ECONNREFUSED')).code, 'SINK_UNAVAILABLE');
    assert.equal(postgresTlsProblem(err('28000', 'role "x" is not permitted to log in'), '28000'), undefined);
  });
});
