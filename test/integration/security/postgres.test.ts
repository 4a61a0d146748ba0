import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PostgresTableReader } from '../../../workers/backfill/postgres/reader.js';
import { PipelineError } from '../../../workers/core/errors.js';
import { Secret } from '../../../workers/core/secret.js';
import { createPostgresKnex } from '../../../workers/sinks/postgres/client.js';
import type { PostgresSinkConfig } from '../../../workers/sinks/postgres/config.js';
import { PostgresSink } from '../../../workers/sinks/postgres/sink.js';
import { validatePipelineFile } from '../../../workers/spec/validate.js';
import { fraudPipelineCopy } from '../../support/pipelines.js';
import { otherCa, readSecret, secureStack, viaLocalhost } from '../../support/secure-stack.js';
import { dropPgTables, uniqueId, withPg } from '../../support/stack.js';
import { pgConfig, schema, silentLogger } from '../../unit/sinks/fixtures.js';

// Postgres over TLS on the local stack: the role streamscore_tls may only log in over TLS (pg_hba
// hostssl; its plaintext attempts are rejected) with its password. A pipeline reaches it with an
// explicit tls block (node-postgres ignores libpq's sslmode semantics, #2281) and a ${file:…}
// password; verify-full refuses a certificate that does not name the host connected to, a wrong
// CA is refused, and so are a plaintext client and a wrong password — each with an error naming
// Postgres and what to fix.
const stack = secureStack();
const id = uniqueId();
const SCHEMA = 'streamscore_tls'; // the TLS role's own schema
const table = `${SCHEMA}.fraud_${id}`;
const source = `${SCHEMA}.src_${id}`;
let base: PostgresSinkConfig;

before(async () => {
  // the sink's settings as a pipeline writes them, through the spec (interpolation, schema, defaults)
  const file = fraudPipelineCopy(id, `fraud-tls-${id}`, (doc) => {
    doc.setIn(['spec', 'sinks', 0, 'postgres', 'url'], '${DATABASE_TLS_URL}');
    doc.setIn(['spec', 'sinks', 0, 'postgres', 'password'], `\${file:${stack.pgPasswordFile}}`);
    doc.setIn(['spec', 'sinks', 0, 'postgres', 'table'], table);
    doc.setIn(['spec', 'sinks', 0, 'postgres', 'tls'], { ca_file: '${STACK_CA_FILE}' });
  });
  const v = await validatePipelineFile(file);
  assert.deepEqual(v.problems, []);
  const pg = (v.pipeline!.spec.sinks[0] as { postgres: PostgresSinkConfig }).postgres;
  assert.equal(pg.tls?.mode, 'verify-full', 'verify-full is the default');
  assert.equal(pg.password?.reveal(), readSecret(stack.pgPasswordFile), 'the password comes from the file');
  base = pgConfig({ url: pg.url, password: pg.password, tls: pg.tls, table });
  await withPg(async (c) => {
    await c.query(`create table ${source} (id int primary key, v text)`);
    await c.query(`insert into ${source} select g, 'v' || g from generate_series(1, 50) g`);
    await c.query(`grant select on ${source} to streamscore_tls`);
  });
});

after(async () => {
  await dropPgTables(table, source);
});

/** Opens a Postgres sink (create_table: a DDL round trip as the TLS role) with these settings. */
async function openSink(cfg: PostgresSinkConfig): Promise<void> {
  const sink = new PostgresSink({
    config: cfg,
    schema,
    pipeline: 'security-test',
    knex: createPostgresKnex(cfg),
    ownsKnex: true,
    logger: silentLogger,
  });
  try {
    await sink.open();
  } finally {
    await sink.close();
  }
}

async function refused(cfg: PostgresSinkConfig, code: string, message: RegExp): Promise<void> {
  await assert.rejects(openSink(cfg), (err: unknown) => {
    assert.ok(PipelineError.is(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.retryable, false, 'a configuration error is not retried');
    assert.match(err.message, /^postgres /, 'names the service');
    assert.match(err.message, message);
    return true;
  });
}

describe('postgres sink over TLS', () => {
  it('verify-full with the stack CA and the password file: the sink opens (creates its table) as the TLS role', async () => {
    await openSink(base);
    await withPg(async (c) => {
      const r = await c.query<{ owner: string }>(
        `select tableowner as owner from pg_tables where schemaname = $1 and tablename = $2`,
        [SCHEMA, `fraud_${id}`],
      );
      assert.equal(r.rows[0]?.owner, 'streamscore_tls', 'created by the TLS role');
    });
  });

  it('verify-full: a certificate that does not name the host connected to is refused (localhost vs IP:127.0.0.1)', async () => {
    await refused(
      { ...base, url: new Secret(viaLocalhost(base.url.reveal())) },
      'SINK_TLS',
      /TLS verify-full failed: host name localhost does not match the server certificate \(it names IP Address:127\.0\.0\.1\)/,
    );
  });

  it('verify-ca under the same other host name: the chain is checked, the name is not', async () => {
    await openSink({
      ...base,
      url: new Secret(viaLocalhost(base.url.reveal())),
      tls: { mode: 'verify-ca', ca_file: stack.caFile },
    });
  });

  it('a CA that did not sign the server certificate is refused', async () => {
    await refused(
      { ...base, tls: { mode: 'verify-full', ca_file: otherCa() } },
      'SINK_TLS',
      /TLS failed: the server certificate is not signed by a trusted CA .*tls\.ca_file/,
    );
  });

  it('a plaintext client is refused for the TLS-only role', async () => {
    const { tls: _none, ...plain } = base;
    await refused(plain, 'SINK_TLS', /no encryption — the server accepts this user over TLS only: set tls/);
  });

  it('a wrong password is refused', async () => {
    await refused(
      { ...base, password: new Secret('not-the-password') },
      'SINK_AUTH',
      /\[28P01\].*password authentication failed for user "streamscore_tls"/,
    );
  });

  it('sslmode in the url is refused with the reason and the tls block to use instead', async () => {
    const url = new URL(base.url.reveal());
    url.searchParams.set('sslmode', 'require');
    assert.throws(
      () => createPostgresKnex({ ...base, url: new Secret(url.toString()) }),
      (err: unknown) => {
        assert.ok(PipelineError.is(err));
        assert.equal(err.code, 'POSTGRES_TLS_CONFIG');
        assert.match(
          err.message,
          /^postgres: the url sets sslmode, .*node-postgres #2281.*tls: \{ mode: verify-full/,
        );
        return true;
      },
    );
  });
});

describe('backfill table reader over TLS', () => {
  const reader = (url: string, tls = base.tls) =>
    new PostgresTableReader(
      { url: new Secret(url), password: base.password, tls, table: source, key: ['id'] },
      { pipeline: 'security-test', poolSize: 1 },
    );

  it('plans chunks as the TLS role with verify-full', async () => {
    const r = reader(base.url.reveal());
    try {
      const plan = await r.planChunks({ where: [], since: null }, 20);
      assert.equal(plan.rows, 50);
    } finally {
      await r.close();
    }
  });

  it('verify-full refuses the certificate under another host name (BACKFILL_TLS)', async () => {
    const r = reader(viaLocalhost(base.url.reveal()));
    try {
      await assert.rejects(r.planChunks({ where: [], since: null }, 20), (err: unknown) => {
        assert.ok(PipelineError.is(err));
        assert.equal(err.code, 'BACKFILL_TLS');
        assert.equal(err.stage, 'backfill');
        assert.match(
          err.message,
          /^postgres streamscore_tls\.src_\w+: .*TLS verify-full failed: host name localhost/,
        );
        return true;
      });
    } finally {
      await r.close();
    }
  });
});
