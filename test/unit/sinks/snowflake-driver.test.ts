/**
 * The Snowflake sink at the driver boundary: real snowflake-sdk against a scripted stand-in for
 * Snowflake's REST API (snowflake-fake-server.ts). Checks what fakesnow cannot: the credentials each
 * auth method sends, the QUERY_TAG and binds on the wire, and the classification of the error
 * objects the driver builds from Snowflake's auth and SQL error responses.
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../workers/core/errors.js';
import { snowflakeConnector } from '../../../workers/sinks/snowflake/client.js';
import { type SnowflakeSinkConfig, snowflakeSinkConfig } from '../../../workers/sinks/snowflake/config.js';
import { SnowflakeSink } from '../../../workers/sinks/snowflake/sink.js';
import { planTable } from '../../../workers/sinks/snowflake/table.js';
import { batch, del, pgConfig, pos, row, schema, silentLogger } from './fixtures.js';
import {
  FakeSnowflake,
  informationSchemaReply,
  type Script,
  sfError,
  sfRows,
} from './snowflake-fake-server.js';

const churn = pgConfig();

function config(fake: FakeSnowflake, overrides: Record<string, unknown> = {}): SnowflakeSinkConfig {
  return snowflakeSinkConfig.parse({
    ...fake.endpoint(),
    user: 'STREAMSCORE',
    auth: { password: 'pa55word-secret' },
    role: 'SCORER',
    warehouse: 'WH_XS',
    database: 'analytics',
    schema: 'ml',
    table: 'churn_scores',
    key: churn.key,
    columns: churn.columns,
    batch: { max_interval_ms: 5 },
    ...overrides,
  });
}

async function withFake<T>(script: Script, fn: (fake: FakeSnowflake) => Promise<T>): Promise<T> {
  const fake = await new FakeSnowflake(script).start();
  try {
    return await fn(fake);
  } finally {
    await fake.stop();
  }
}

function sinkOn(cfg: SnowflakeSinkConfig): SnowflakeSink {
  return new SnowflakeSink({
    config: cfg,
    schema,
    pipeline: 'churn-scoring',
    connect: snowflakeConnector(cfg, { logger: silentLogger }),
    logger: silentLogger,
  });
}

describe('snowflake driver boundary: credentials', () => {
  it('sends user, password, account, role, warehouse, database and schema at login', async () => {
    await withFake({}, async (fake) => {
      const s = await snowflakeConnector(config(fake), { logger: silentLogger })();
      await s.close();
      const login = fake.logins[0]!;
      assert.equal(login.data['LOGIN_NAME'], 'STREAMSCORE');
      assert.equal(login.data['PASSWORD'], 'pa55word-secret');
      assert.equal(login.data['ACCOUNT_NAME'], 'acme-test');
      assert.equal(login.query.get('roleName'), 'SCORER');
      assert.equal(login.query.get('warehouse'), 'WH_XS');
      assert.equal(login.query.get('databaseName'), 'ANALYTICS');
      assert.equal(login.query.get('schemaName'), 'ML');
    });
  });
  it('signs a JWT with the (decrypted) private key for key-pair auth', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'kp' })
      .toString();
    await withFake({}, async (fake) => {
      const cfg = config(fake, { auth: { private_key: pem, private_key_passphrase: 'kp' } });
      const s = await snowflakeConnector(cfg, { logger: silentLogger })();
      await s.close();
      const data = fake.logins[0]!.data;
      assert.equal(data['AUTHENTICATOR'], 'SNOWFLAKE_JWT');
      assert.equal(data['PASSWORD'], undefined);
      const [header, payload, signature] = String(data['TOKEN']).split('.');
      const ok = verify(
        'RSA-SHA256',
        Buffer.from(`${header}.${payload}`),
        createPublicKey(publicKey.export({ type: 'spki', format: 'pem' })),
        Buffer.from(signature!, 'base64url'),
      );
      assert.ok(ok, 'the JWT verifies with the public key registered for the user');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, string>;
      assert.match(claims['iss']!, /^ACME-TEST\.STREAMSCORE\.SHA256:/);
      assert.equal(claims['sub'], 'ACME-TEST.STREAMSCORE');
    });
  });
  it('sends an OAuth token with authenticator OAUTH', async () => {
    await withFake({}, async (fake) => {
      const s = await snowflakeConnector(config(fake, { auth: { oauth_token: 'oauth-secret' } }), {
        logger: silentLogger,
      })();
      await s.close();
      assert.equal(fake.logins[0]!.data['AUTHENTICATOR'], 'OAUTH');
      assert.equal(fake.logins[0]!.data['TOKEN'], 'oauth-secret');
    });
  });
});

describe('snowflake driver boundary: statements', () => {
  it('tags every statement with QUERY_TAG and binds the staged rows as TEXT arrays', async () => {
    let cfg: SnowflakeSinkConfig | undefined;
    await withFake(
      {
        query: (q) =>
          q.sqlText.includes('INFORMATION_SCHEMA')
            ? informationSchemaReply(planTable(cfg!, schema))
            : sfRows(),
      },
      async (fake) => {
        cfg = config(fake, { statement_timeout_s: 120 });
        const sink = sinkOn(cfg);
        await sink.open();
        await sink.write(batch([row(7, pos(3), 0.75), del(8, pos(4))]));
        await sink.close();
        for (const q of fake.queries) {
          const tag = JSON.parse(String(q.parameters?.['QUERY_TAG'])) as Record<string, string>;
          assert.equal(tag['app'], 'streamscore');
          assert.equal(tag['pipeline'], 'churn-scoring');
          assert.equal(tag['sink'], 'ANALYTICS.ML.CHURN_SCORES');
          assert.match(tag['batch']!, /^[0-9a-f]{8}-(open|1)$/);
          assert.equal(q.parameters?.['STATEMENT_TIMEOUT_IN_SECONDS'], 120);
        }
        const insert = fake.queries.find((q) => q.sqlText.startsWith('INSERT'))!;
        assert.deepEqual(insert.bindings?.['1'], { type: 'TEXT', value: ['7', '8'] });
        assert.deepEqual(insert.bindings?.['2'], { type: 'TEXT', value: ['0.75', null] });
        assert.deepEqual(insert.bindings?.['9'], { type: 'TEXT', value: ['u', 'd'] });
      },
    );
  });
});

/** The PipelineError the sink's open() rejects with, against a server answering with `script`. */
async function openError(script: Script, auth?: Record<string, unknown>): Promise<PipelineError> {
  return withFake(script, async (fake) => {
    const sink = sinkOn(config(fake, auth ? { auth } : {}));
    try {
      await sink.open();
    } catch (err) {
      assert.ok(PipelineError.is(err), String(err));
      return err;
    } finally {
      await sink.close();
    }
    throw new Error('expected open() to fail');
  });
}

describe('snowflake driver boundary: errors as the driver builds them', () => {
  it('wrong password (390100): terminal SINK_AUTH, says what to check, no secret in the message', async () => {
    const e = await openError({
      login: () => sfError('390100', 'Incorrect username or password was specified.'),
    });
    assert.equal(e.code, 'SINK_AUTH');
    assert.equal(e.retryable, false);
    assert.match(
      e.message,
      /opening the sink failed \[390100\]: Incorrect username or password was specified\.; to fix: check user and auth\.password/,
    );
    assert.ok(!e.message.includes('pa55word-secret'));
  });
  it('rejected JWT (390144) and expired OAuth token (390318): terminal SINK_AUTH', async () => {
    const jwt = await openError({ login: () => sfError('390144', 'JWT token is invalid.') });
    assert.equal(jwt.code, 'SINK_AUTH');
    assert.match(jwt.message, /RSA_PUBLIC_KEY must match/);
    const oauth = await openError(
      { login: () => sfError('390318', 'OAuth access token expired. [1234]') },
      { oauth_token: 'old' },
    );
    assert.equal(oauth.code, 'SINK_AUTH');
    assert.match(oauth.message, /fresh auth\.oauth_token/);
  });
  it('HTTP 403 at login is terminal auth, HTTP 404 a wrong account, HTTP 503 transient', async () => {
    const forbidden = await openError({ login: () => ({ status: 403, body: {} }) });
    assert.deepEqual([forbidden.code, forbidden.retryable], ['SINK_AUTH', false]);
    const notFound = await openError({ login: () => ({ status: 404, body: {} }) });
    assert.deepEqual([notFound.code, notFound.retryable], ['SINK_CONFIG_INVALID', false]);
    assert.match(notFound.message, /check account \(orgname-accountname\)/);
    const unavailable = await openError({ login: () => ({ status: 503, body: {} }) });
    assert.deepEqual([unavailable.code, unavailable.retryable], ['SINK_UNAVAILABLE', true]);
  });
  it('insufficient privileges (003001) and a missing object (002003) in a statement are terminal', async () => {
    const denied = await openError({
      query: () =>
        sfError(
          '003001',
          "SQL access control error:\nInsufficient privileges to operate on schema 'ML'",
          '42501',
        ),
    });
    assert.deepEqual([denied.code, denied.retryable], ['SINK_PERMISSION', false]);
    assert.match(denied.message, /\[003001\/42501\]/);
    assert.match(denied.message, /to fix: grant the role/);
    const missing = await openError({
      query: () =>
        sfError(
          '002003',
          "SQL compilation error:\nDatabase 'ANALYTICS' does not exist or not authorized.",
          '02000',
        ),
    });
    assert.deepEqual([missing.code, missing.retryable], ['SINK_SCHEMA', false]);
    assert.match(missing.message, /USAGE on the database and schema/);
  });
  it('a statement timeout (000630) is retried', async () => {
    const e = await openError({
      query: () =>
        sfError(
          '000630',
          'Statement reached its statement or warehouse timeout of 60 second(s) and was canceled.',
          '57014',
        ),
    });
    assert.deepEqual([e.code, e.retryable], ['SINK_OVERLOADED', true]);
  });
});
