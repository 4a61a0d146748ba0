import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { assertDistFresh, type DistResult, runDist, startDist } from '../support/dist-cli.js';
import {
  deleteGroups,
  deleteTopics,
  dropSnowflakeTables,
  env,
  freePort,
  readTopic,
  testKafka,
  uniqueId,
  withPg,
} from '../support/stack.js';
import { header, readTopicUntil, waitCommitted } from '../support/topics.js';
import { testQueues } from './backfill-support.js';

// "Secrets (connection URLs, passwords, tokens, file contents) print as *** in plan, logs and
// errors." Every secret slot of a pipeline (the fields declared secret() in workers/spec and the
// components, plus `${file:…}` values and the schema registry's URL with its user info) holds a
// value containing one canary; the real CLI then validates, plans, runs (at debug level: a worker
// that connects, dead-letters, serves /metrics and drains, and runs that fail at start-up),
// backfills, and reports invalid pipelines. No output may contain the canary: stdout, stderr,
// dead letters (keys, values, headers), output messages, /metrics, or a file left in the working
// directory.
const id = uniqueId();
const CANARY = `Cnry${id}`;
const dir = join(tmpdir(), `streamscore-secrets-${id}`);
/** The CLI's working directory: a client library writing a log file there is caught too. */
const cwd = join(dir, 'cwd');
const schema = `secrets_${id}`;
const names = {
  TOPIC: `secrets-${id}`,
  GROUP: `secrets-${id}`,
  DLQ: `secrets-${id}.dlq`,
  OUTPUT: `secrets-out-${id}`,
  SCORES: `${schema}.scores`,
  SOURCE: `${schema}.customers`,
  WH: `SECRETS_${id.toUpperCase()}`,
  STREAMSCORE_BACKFILL_PREFIX: `bf${id}`,
};
const warehouseTables = ['PW', 'KEY', 'FILE', 'TOKEN'].map((t) => `${names.WH}_${t}`);

const encryptedKey = (passphrase: string) =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  }).privateKey;
const withPassword = (url: string, password: string, path?: string) => {
  const u = new URL(url);
  u.username ||= 'postgres';
  u.password = password;
  if (path) u.pathname = path;
  return u.toString();
};
const registryWithUser = (() => {
  const u = new URL(env.registryUrl);
  u.username = 'reg';
  u.password = `${CANARY}InUrl`;
  return u.toString();
})();
/** A secret-keyed variable of digits only: unquoted in YAML it is re-read as a number. */
const NUMERIC = `9${BigInt(`0x${id}`).toString().padStart(10, '0')}731952468`;

/** The secret variables; file secrets are written below. */
const secrets: Record<string, string> = {
  PG_URL: withPassword(env.databaseUrl, `${CANARY}Postgres`),
  BACKFILL_URL: withPassword(env.databaseUrl, `${CANARY}Backfill`),
  REG_URL: registryWithUser,
  REG_PASSWORD: `${CANARY}RegAuth`,
  SF_PASSWORD: `${CANARY}Snowflake`,
  SF_NUMERIC_PASSWORD: NUMERIC,
  SF_PRIVATE_KEY: encryptedKey(`${CANARY}Passphrase`),
  SF_PASSPHRASE: `${CANARY}Passphrase`,
  SF_FILE_PASSPHRASE: `${CANARY}FilePassphrase`,
  KAFKA_SINK_PASSWORD: `${CANARY}SinkSasl`,
  KAFKA_SINK_REG_PASSWORD: `${CANARY}SinkRegistry`,
};
const files = {
  'kafka-password': `${CANARY}KafkaSource\n`,
  'sf-token': `${CANARY}OauthToken\n`,
  'key.pem': encryptedKey(`${CANARY}FilePassphrase`),
  // Not a URL (a space in the host), and longer than the 60 characters a problem quotes.
  'registry-url': `http://reg:${CANARY}FileUrl@registry host.example.com:8081/apis/ccompat/v7/and/more\n`,
};

/**
 * What must never be printed: the canary (in every secret), the numeric password's digits as the
 * number they read as, each line of the keys' base64, and the basic-auth header of the registry.
 */
const needles = [
  CANARY,
  NUMERIC.slice(0, 12),
  ...[secrets['SF_PRIVATE_KEY']!, files['key.pem']].flatMap((k) =>
    k.split('\n').filter((l) => l.length >= 40),
  ),
  ...[`reg:${CANARY}RegAuth`, `reg:${CANARY}SinkRegistry`, `reg:${CANARY}InUrl`].map((s) =>
    Buffer.from(s).toString('base64').slice(0, 20),
  ),
];

function assertNoSecret(what: string, text: string): void {
  for (const n of needles) {
    const at = text.indexOf(n);
    assert.ok(
      at < 0,
      `${what} contains a secret (${JSON.stringify(n.slice(0, 24))}…): …${text.slice(Math.max(0, at - 200), at + 80)}…`,
    );
  }
}

/** Asserts that neither stdout nor stderr of a CLI process holds a secret; returns its result. */
function checked(what: string, r: DistResult): DistResult {
  assertNoSecret(`${what} (stdout)`, r.stdout);
  assertNoSecret(`${what} (stderr)`, r.stderr);
  return r;
}

interface Variant {
  /** SASL on the source and the Kafka sink (the local broker has no SASL listener: a run fails). */
  sasl?: boolean;
  /** Basic auth on the decoder's registry. */
  registryAuth?: boolean;
  /** A numeric password unquoted, and a registry URL from a file that is no URL. */
  invalid?: boolean;
}

/** The pipeline: churn's features and model, every sink type, every secret slot. */
function pipeline(name: string, v: Variant): string {
  const sasl = (indent: string, password: string) =>
    v.sasl
      ? ['sasl:', '  mechanism: scram-sha-512', '  username: streamscore', `  password: ${password}`]
          .map((l) => `\n${indent}${l}`)
          .join('')
      : '';
  const text = `apiVersion: streamscore/v1
kind: Pipeline
metadata:
  name: secrets-e2e
spec:
  source:
    kafka:
      brokers: \${KAFKA_BROKERS}
      topics: \${TOPIC}
      group_id: \${GROUP}${sasl('      ', `\${file:${dir}/kafka-password}`)}
  decode:
    debezium:
      encoding: json
      schema_registry:
        url: ${v.invalid ? `\${file:${dir}/registry-url}` : '${REG_URL}'}${v.registryAuth ? '\n        username: reg\n        password: ${REG_PASSWORD}' : ''}
  features:
    key: after.customer_id
    input_schema: ${resolve('schemas/crm.customers.avsc')}
    map:
      tenure_months: { expr: "months_between(after.signup_date, source.ts_ms)", on_null: reject }
      monthly_spend: coalesce(after.monthly_spend, 0)
      is_enterprise: { expr: "after.plan == 'enterprise'", type: bool }
      tickets_90d: { expr: after.tickets_90d, type: int, on_null: { default: 0 } }
      seats: { expr: after.seats, type: int, on_null: { default: 1 } }
      days_since_login: coalesce(days_between(after.last_login_at, source.ts_ms), 365)
      plan_basic: { expr: "after.plan == 'basic'", type: bool }
      plan_pro: { expr: "after.plan == 'pro'", type: bool }
  model:
    name: churn
    version: 1
    path: ${resolve('pipelines/models/churn/1/model.onnx')}
    outputs:
      churn_probability: probabilities[1]
  sinks:
    - postgres:
        url: \${PG_URL}
        table: \${SCORES}
        key: [customer_id]
        columns:
          customer_id: key
          churn_probability: churn_probability
        create_table: true
    - snowflake: &warehouse
        account: \${SNOWFLAKE_ACCOUNT}
        user: \${SNOWFLAKE_USER}
        auth:
          password: ${v.invalid ? '${SF_NUMERIC_PASSWORD}' : '${SF_PASSWORD}'}
        database: \${SNOWFLAKE_DATABASE}
        schema: \${SNOWFLAKE_SCHEMA}
        host: \${SNOWFLAKE_HOST}
        port: \${SNOWFLAKE_PORT}
        protocol: \${SNOWFLAKE_PROTOCOL}
        table: \${WH}_PW
        key: [CUSTOMER_ID]
        columns:
          CUSTOMER_ID: key
          CHURN_PROBABILITY: churn_probability
        create_table: true
        batch:
          max_interval_ms: 200
    - snowflake:
        <<: *warehouse
        table: \${WH}_KEY
        auth:
          private_key: \${SF_PRIVATE_KEY}
          private_key_passphrase: \${SF_PASSPHRASE}
    - snowflake:
        <<: *warehouse
        table: \${WH}_FILE
        auth:
          private_key_file: ${dir}/key.pem
          private_key_passphrase: \${SF_FILE_PASSPHRASE}
    - snowflake:
        <<: *warehouse
        table: \${WH}_TOKEN
        auth:
          oauth_token: \${file:${dir}/sf-token}
    - kafka:
        topic: \${OUTPUT}
        format: json${sasl('        ', '${KAFKA_SINK_PASSWORD}')}
        schema_registry:
          url: \${REG_URL}
          username: reg
          password: \${KAFKA_SINK_REG_PASSWORD}
  errors:
    dead_letter_topic: \${DLQ}
    max_retries: 2
    retry_backoff_ms: 50
  backfill:
    source:
      postgres:
        url: \${BACKFILL_URL}
        table: \${SOURCE}
        key: customer_id
    chunk_size: 100
  monitoring:
    port: 0
`;
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, text);
  return file;
}

let live: string;
let all: string;
let invalid: string;
const cliEnv = () => ({ ...secrets, ...names });
const queues = testQueues(id);

before(async () => {
  assertDistFresh();
  // No secret may hide another: redacting one must not mask a leak of the other.
  const values = [...Object.values(secrets), ...Object.values(files)];
  for (const a of values)
    for (const b of values) assert.ok(a === b || !a.includes(b.trim()), `${a} contains ${b}`);
  mkdirSync(cwd, { recursive: true });
  for (const [f, content] of Object.entries(files)) writeFileSync(join(dir, f), content);
  live = pipeline('live', { registryAuth: true });
  all = pipeline('all', { sasl: true, registryAuth: true });
  invalid = pipeline('invalid', { sasl: true, registryAuth: true, invalid: true });
  // The score table exists with a CHECK the sink's rows for customer 13 break: a SINK_DATA dead letter.
  await withPg((c) =>
    c.query(`create schema ${schema};
      create table ${names.SCORES} (customer_id bigint not null check (customer_id <> 13),
        churn_probability double precision, model_name text not null, model_version text not null,
        source_position numeric(38,0) not null, scored_at timestamptz not null, primary key (customer_id));
      create table ${names.SOURCE} (customer_id bigint primary key, email text, plan text, signup_date date,
        monthly_spend numeric(12,2), seats int, tickets_90d int, last_login_at timestamptz);
      insert into ${names.SOURCE} values (1, 'a@example.com', 'pro', '2022-01-01', 10.5, 3, 1, now()),
        (2, 'b@example.com', 'basic', '2021-06-01', 99.99, 1, 0, null)`),
  );
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: names.TOPIC, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
});

after(async () => {
  await queues.close();
  await withPg((c) => c.query(`drop schema if exists ${schema} cascade`));
  await deleteTopics([names.TOPIC, names.DLQ, names.OUTPUT]);
  await deleteGroups([names.GROUP]);
  await dropSnowflakeTables(...warehouseTables);
  rmSync(dir, { recursive: true, force: true });
});

test('validate and plan print no secret; plan shows the registry URL with its password as ***', async () => {
  const validate = checked('validate', await runDist(['validate', all, live], { env: cliEnv(), cwd }));
  assert.equal(validate.code, 0, validate.stderr);
  const json = checked(
    'validate --format json',
    await runDist(['validate', '--format', 'json', all], { env: cliEnv(), cwd }),
  );
  assert.deepEqual(JSON.parse(json.stdout), { valid: true, problems: [] });
  const plan = checked('plan', await runDist(['plan', all], { env: cliEnv(), cwd }));
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(
    plan.stdout,
    /"url":"http:\/\/reg:\*\*\*@127\.0\.0\.1:\d+\/apis\/ccompat\/v7","username":"reg","password":"\*\*\*"/,
  );
});

test('problems quote no secret: a numeric password and a secret file that is no URL, in validate, plan, run and backfill', async () => {
  const runs = {
    validate: ['validate', invalid],
    'validate --format json': ['validate', '--format', 'json', invalid],
    plan: ['plan', invalid],
    run: ['run', '--log-level', 'debug', invalid],
    backfill: ['backfill', invalid, '--work'],
  };
  for (const [what, args] of Object.entries(runs)) {
    const r = checked(`${what} of an invalid pipeline`, await runDist(args, { env: cliEnv(), cwd }));
    assert.equal(r.code, 1, `${what}: ${r.stdout}${r.stderr}`);
    const text = r.stdout + r.stderr;
    // The problems are reported, their values redacted (--format json: path and message apart).
    assert.match(text, /spec\.sinks\[1\]\.snowflake\.auth\.password/, what);
    assert.match(text, /expected string, got \*\*\*/, what);
    assert.match(text, /spec\.decode\.debezium\.schema_registry\.url/, what);
    assert.match(text, /expected a URL, got '\*\*\*\.\.\.'/, what);
  }
});

/** A Debezium change event as JsonConverter writes it without schemas. */
function event(customer: number, after: Record<string, unknown>) {
  return {
    key: JSON.stringify({ customer_id: customer }),
    value: JSON.stringify({
      before: null,
      after: {
        customer_id: customer,
        email: `c${customer}@example.com`,
        plan: 'pro',
        seats: 2,
        tickets_90d: 1,
        ...after,
      },
      source: { ts_ms: Date.now(), lsn: 1000 + customer, db: 'crm', schema: 'crm', table: 'customers' },
      op: 'c',
      ts_ms: Date.now(),
    }),
  };
}

test('a worker at debug level that scores, dead-letters (decode, features, sink) and serves /metrics prints no secret', async () => {
  // A port free a moment ago: a random one can be some client's ephemeral port (EADDRINUSE).
  const port = await freePort();
  const worker = startDist(['run', '--no-backfill', '--log-level', 'debug', '--port', String(port), live], {
    env: cliEnv(),
    cwd,
  });
  let metrics = '';
  try {
    const producer = testKafka().producer();
    await producer.connect();
    await producer.send({
      topic: names.TOPIC,
      messages: [
        event(11, { signup_date: 18_000 }),
        event(12, { signup_date: 18_500, last_login_at: '2024-05-01T10:00:00.123456Z' }),
        event(13, { signup_date: 19_000 }), // the score table's CHECK rejects it: SINK_DATA
        event(14, { signup_date: null }), // tenure_months is null, on_null: reject
        { key: 'not-json', value: '{not json' },
      ],
    });
    await producer.disconnect();
    await waitCommitted(names.GROUP, names.TOPIC, 5n, 120_000).catch((err) => {
      throw new Error(`${(err as Error).message}\n${worker.output().slice(-3000)}`);
    });
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    metrics = await res.text();
    assert.match(metrics, /streamscore_dead_lettered/);
  } finally {
    const code = await worker.stop('SIGTERM');
    checked('run --log-level debug', { code, stdout: worker.stdout(), stderr: worker.stderr() });
    assert.equal(code, 0, worker.output().slice(-3000));
  }
  assert.match(worker.stdout(), /"level":20/, 'debug lines were logged');
  // A failure below names what the worker printed: a CI run once failed this test without it.
  const tail = `\nthe worker printed:\n${worker.output().slice(-3000)}`;
  const letters = await readTopicUntil(names.DLQ, (m) => m.length >= 3);
  assert.deepEqual(
    letters.map((l) => header(l, 'streamscore.error.code')).sort(),
    ['DECODE_JSON', 'FEATURE_NULL', 'SINK_DATA'],
    tail,
  );
  const rejected = letters.find((l) => header(l, 'streamscore.error.code') === 'SINK_DATA')!;
  assert.match(
    header(rejected, 'streamscore.error.message'),
    /postgres/,
    `the message names the sink${tail}`,
  );
  const scored = await withPg(
    async (c) => (await c.query(`select customer_id from ${names.SCORES} order by 1`)).rows,
  );
  assert.deepEqual(
    scored.map((r) => Number(r.customer_id)),
    [11, 12],
    tail,
  );
  const out = await readTopic(names.OUTPUT);
  assert.ok(out.length >= 3, `${out.length} output messages${tail}`);
  for (const m of [...letters, ...out]) {
    const parts = [m.key, m.value, ...Object.entries(m.headers).flatMap(([k, v]) => [Buffer.from(k), v])];
    assertNoSecret(
      `message ${m.offset} of ${letters.includes(m) ? names.DLQ : names.OUTPUT}`,
      Buffer.concat(parts.filter((p) => p !== null)).toString('latin1'),
    );
  }
  assertNoSecret('/metrics', metrics);
});

test('backfill --work at debug level prints no secret', async () => {
  const r = checked(
    'backfill --work',
    await runDist(['backfill', live, '--work'], {
      env: { ...cliEnv(), REDIS_URL: env.redisUrl, STREAMSCORE_LOG_LEVEL: 'debug' },
      cwd,
    }),
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /1 chunks, 2 rows of secrets_\w+\.customers/);
});

test('runs that fail at start-up (SASL refused, database missing, every slot filled) print no secret', async () => {
  const missingDb = withPassword(env.databaseUrl, `${CANARY}Postgres`, `/no_such_db_${id}`);
  // Each with the reason it fails for; every slot filled fails on its first refused credential.
  const runs: [string, string, Record<string, string>, RegExp][] = [
    ['every secret slot', all, {}, /./],
    ['SASL against a broker without it', pipeline('sasl', { sasl: true }), {}, /SASL/],
    ['a missing database', live, { PG_URL: missingDb }, /database "no_such_db_\w+" does not exist/],
  ];
  for (const [what, file, extra, reason] of runs) {
    const r = checked(
      `run with ${what}`,
      await runDist(['run', '--no-backfill', '--log-level', 'debug', '--port', '0', file], {
        env: { ...cliEnv(), ...extra },
        cwd,
      }),
    );
    assert.notEqual(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout + r.stderr, reason, what);
  }
});

test('no file the CLI left in its working directory holds a secret', () => {
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
  for (const f of walk(cwd)) assertNoSecret(f, readFileSync(f, 'latin1'));
});

test('the logger redacts secret-bearing fields itself (no log call passes one today: defence in depth)', () => {
  const script = `
    import { createLogger } from ${JSON.stringify(resolve('dist/workers/observability/logger.js'))};
    const log = createLogger('debug');
    log.warn({ url: process.env.PG_URL, password: process.env.SF_PASSWORD, token: process.env.REG_PASSWORD,
      connectionString: process.env.BACKFILL_URL, sasl: { password: process.env.KAFKA_SINK_PASSWORD },
      registry: { url: process.env.REG_URL } }, 'connecting');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ...secrets },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /"msg":"connecting"/);
  assertNoSecret('createLogger output', r.stdout + r.stderr);
});
