import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { parseJsonExact } from '../../workers/decode/exact-json.js';
import { deleteSubjects } from '../bench/topic.js';
import { dropPrefix } from '../integration/backfill/support.js';
import { type RunningCli, runCli, startCli } from '../support/cli.js';
import {
  deleteGroups,
  deleteTopics,
  dropDebezium,
  dropSnowflakeTables,
  env,
  registerDebezium,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';
import { warehouseSession, warehouseTable } from '../support/warehouse.js';

// Stream = backfill on a user's ERP-like table: every column type the decoders support, int64
// keys across the whole range (−2^63 … 2^63−1), TOASTed text under REPLICA IDENTITY DEFAULT, real
// Debezium events in three encodings (JSON with schemas, JSON without + the row schema, Avro through
// the registry). The same rows are backfilled; every table must hold identical rows, under the
// exact ids of the source table. A fourth pipeline keys on a NOT NULL non-key column: its deletes
// must be dead-lettered, never written under the zero Debezium fills that column with.
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
const id = uniqueId();
const schema = `par_${id}`;
const table = `${schema}.items`;
const dir = join(tmpdir(), `streamscore-parity-${id}`);
const connectors = { json: `par_json_${id}`, plain: `par_plain_${id}`, avro: `par_avro_${id}` };
const prefix = (k: keyof typeof connectors) => `par${k}${id}`;
const scores = (k: string) => `${schema}.scores_${k}`;
const warehouse = `PAR_${id.toUpperCase()}`;
const outputTopic = `par-out-${id}`;
const dlq = (k: string) => `par-${id}-${k}.dlq`;
let worker: RunningCli | undefined;
const readerGroups: string[] = [];

const P63 = 2n ** 63n;
const P53 = 2n ** 53n;
/** The key edges, then ids spread over the whole range (beyond 2^53 most of them). */
const EDGES = [
  -P63,
  -P63 + 1n,
  -P53 - 1n,
  -P53,
  -P53 + 1n,
  -1n,
  0n,
  1n,
  P53 - 1n,
  P53,
  P53 + 1n,
  P63 - 2n,
  P63 - 1n,
];
const SPREAD = Array.from({ length: 60 }, (_, i) => BigInt.asIntN(64, BigInt(i + 1) * 0x9e3779b97f4a7c15n));
const IDS = [...EDGES, ...SPREAD];
/** Updated after the snapshot without touching `big`: Debezium sends its placeholder. */
const TOUCHED = IDS.filter((_, i) => i % 3 === 0);
/** Deleted after the snapshot (REPLICA IDENTITY DEFAULT: `before` has the key, zeros elsewhere). */
const DELETED = IDS.filter((_, i) => i % 3 === 1 && i % 2 === 0);
/** Inserted after the snapshot, at ids next to existing ones (a rounded id would collide). */
const INSERTED = [P63 - 3n, -P63 + 2n, P53 + 2n, -P53 - 2n];

const DDL = `
  CREATE SCHEMA ${schema};
  CREATE TYPE ${schema}.tier AS ENUM ('basic', 'gold');
  CREATE TABLE ${table} (
    id bigint PRIMARY KEY, account_no bigint NOT NULL, amount numeric(12,2), ratio numeric,
    big_no numeric(20,0), d date, t time, ts timestamp, tstz timestamptz, qty smallint, n integer,
    score real, weight double precision, active boolean, code char(3), uid uuid, status ${schema}.tier,
    doc jsonb, tags text[], note text, big text);
  ALTER TABLE ${table} REPLICA IDENTITY DEFAULT;`;

/** Row values by id; `big` is 12.8 kB of md5 digests (stored out of line: TOASTed). */
function insertSql(ids: readonly bigint[]): string {
  const rows = ids.map((v, i) => {
    const n = Number(BigInt.asUintN(16, v)) + i;
    return `(${v}, ${n + 1}, ${(n % 9999) + 0.25}, ${n / 7}, ${v < 0n ? -v : v}, date '2020-01-01' + ${n % 900},
      time '00:00' + interval '${n % 86399} seconds', timestamp '2024-01-01' + interval '${n} minutes',
      timestamptz '2024-03-31 23:30:00+02' + interval '${n} seconds', ${n % 300}, ${n * 3}, ${n / 3}, ${n / 11},
      ${n % 2 === 0}, '${['AB', 'ABC', 'X'][n % 3]}', md5('${v}')::uuid, '${n % 2 ? 'gold' : 'basic'}',
      '{"n": ${n}}', '{a,b${n % 5}}', 'note ${n}',
      (SELECT string_agg(md5(('${v}')::text || g::text), '') FROM generate_series(1, ${400 + (n % 50)}) g))`;
  });
  return `INSERT INTO ${table} VALUES ${rows.join(',\n')}`;
}

function pipeline(
  k: string,
  o: { topic: string; encoding: 'json' | 'avro'; key?: string; extraSinks?: string },
): string {
  const file = join(dir, `${k}.yaml`);
  writeFileSync(
    file,
    `apiVersion: streamscore/v1
kind: Pipeline
metadata: { name: parity-${k} }
spec:
  source:
    kafka: { brokers: "${env.kafkaBrokers}", topics: ${o.topic}, group_id: par-${id}-${k} }
  decode:
    debezium:
      encoding: ${o.encoding}
      unavailable_value: lookup
      schema_registry: { url: "${env.registryUrl}" }
  features:
    key: ${o.key ?? 'after.id'}
    input_schema: row.avsc
    map:
      id_hash: { expr: "hash_bucket(after.id, 1000003)", type: int }
      big_len: { expr: "len(after.big)", on_null: reject }
      amounts: "after.amount * 2 + after.ratio + hash_bucket(after.big_no, 89)"
      times: "days_between(after.d, after.tstz) + hour(after.ts) + after.t / 1000"
      flags: "(after.active ? 1 : 0) + (after.status == 'gold' ? 2 : 0) + (after.code == 'AB ' ? 4 : 0)"
      mix: "len(after.note) + after.n + after.qty + after.score + after.weight + hash_bucket(after.uid, 97) + hash_bucket(after.account_no, 83)"
  model:
    name: demand
    version: 1
    path: ${resolve('pipelines/models/demand/1/model.onnx')}
    batch: { max_size: 256, max_wait_ms: 5 }
    outputs: { forecast: value }
  sinks:
    - postgres:
        url: "${env.databaseUrl}"
        table: ${scores(k)}
        key: [id]
        columns: { id: key, forecast: forecast, id_hash: feature.id_hash, big_len: feature.big_len, amounts: feature.amounts, times: feature.times, flags: feature.flags, mix: feature.mix }
        create_table: true
${o.extraSinks ?? ''}  errors: { dead_letter_topic: ${dlq(k)}, max_retries: 3 }
  backfill:
    source: { postgres: { url: "${env.databaseUrl}", table: ${table}, key: [id] } }
    chunk_size: 20
`,
  );
  return file;
}

const WAREHOUSE_SINK = `    - snowflake:
        account: fakesnow
        user: fake
        auth: { password: snow }
        database: ${process.env['SNOWFLAKE_DATABASE'] ?? 'STREAMSCORE'}
        schema: ${process.env['SNOWFLAKE_SCHEMA'] ?? 'PUBLIC'}
        host: "${process.env['SNOWFLAKE_HOST'] ?? '127.0.0.1'}"
        port: ${process.env['SNOWFLAKE_PORT'] ?? '18085'}
        protocol: ${process.env['SNOWFLAKE_PROTOCOL'] ?? 'http'}
        table: ${warehouse}
        key: [ID]
        columns: { ID: key, FORECAST: forecast }
        create_table: true
        load: values
        batch: { max_interval_ms: 200 }
    - kafka: { topic: ${outputTopic}, format: json }
`;

const kafka = new Kafka({
  brokers: env.kafkaBrokers.split(','),
  clientId: `par-${id}`,
  logLevel: logLevel.NOTHING,
});

/** Every message of a topic from the beginning, until `done` holds. */
async function readTopic(
  topic: string,
  done: (n: number) => boolean,
): Promise<{ key: Buffer | null; value: Buffer | null; headers: Record<string, string> }[]> {
  const groupId = `par-reader-${uniqueId()}`;
  readerGroups.push(groupId);
  const consumer = kafka.consumer({ groupId });
  const out: { key: Buffer | null; value: Buffer | null; headers: Record<string, string> }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        out.push({ key: message.key, value: message.value, headers });
      },
    });
    await waitFor(`messages of ${topic}`, async () => done(out.length), 120_000);
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** The table's rows as text (exact), without the columns that differ by design (time of scoring, position). */
async function rowsOf(t: string): Promise<string[]> {
  return withPg(async (c) => {
    const r = await c.query(
      `select concat_ws('|', id::text, forecast::text, id_hash::text, big_len::text, amounts::text, times::text, flags::text, mix::text) as r from ${t} order by id`,
    );
    return r.rows.map((x: { r: string }) => x.r);
  });
}

before(async () => {
  mkdirSync(dir, { recursive: true });
  await withPg((c) => c.query(`${DDL}\n${insertSql(IDS)}`));
  for (const k of ['json', 'plain', 'avro'] as const) {
    await registerDebezium({
      name: connectors[k],
      topicPrefix: prefix(k),
      tables: [table],
      converter: k === 'json' ? 'json' : k === 'plain' ? 'json-noschema' : 'avro',
    });
  }
  // The row schema, as the Avro connector registered it (an envelope: its `after` row is used).
  const subject = `${prefix('avro')}.${table}-value`;
  const avsc = await waitFor(`the registry subject ${subject}`, async () => {
    const res = await fetch(`${env.registryUrl}/subjects/${subject}/versions/latest`);
    return res.ok ? ((await res.json()) as { schema: string }).schema : undefined;
  });
  writeFileSync(join(dir, 'row.avsc'), avsc);
});

after(async () => {
  if (worker) await worker.stop();
  for (const c of Object.values(connectors)) await dropDebezium(c).catch(() => undefined);
  await withPg((c) => c.query(`drop schema if exists ${schema} cascade`));
  await dropSnowflakeTables(warehouse);
  const sources = (['json', 'plain', 'avro'] as const).map((k) => `${prefix(k)}.${table}`);
  const pipelines = ['json', 'plain', 'avro', 'acct', 'backfill'];
  await deleteTopics([...sources, outputTopic, ...pipelines.map(dlq)]);
  await deleteGroups([...pipelines.map((k) => `par-${id}-${k}`), ...readerGroups]);
  await deleteSubjects(env.registryUrl, [`${sources[2]}-key`, `${sources[2]}-value`]);
  const redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
  await dropPrefix(redis, `par${id}`).finally(() => redis.disconnect());
});

test('stream (JSON, JSON without schemas, Avro) and backfill write identical rows under exact int64 keys', async () => {
  const files = {
    json: pipeline('json', {
      topic: `${prefix('json')}.${table}`,
      encoding: 'json',
      extraSinks: WAREHOUSE_SINK,
    }),
    plain: pipeline('plain', { topic: `${prefix('plain')}.${table}`, encoding: 'json' }),
    avro: pipeline('avro', { topic: `${prefix('avro')}.${table}`, encoding: 'avro' }),
    acct: pipeline('acct', {
      topic: `${prefix('json')}.${table}`,
      encoding: 'json',
      key: 'after.account_no',
    }),
  };
  const backfillFile = pipeline('backfill', { topic: `${prefix('json')}.${table}`, encoding: 'json' });
  const validated = await runCli(['validate', ...Object.values(files)]);
  assert.equal(validated.code, 0, validated.output);
  worker = startCli(['run', '--no-backfill', '--port', '0', ...Object.values(files)], {
    STREAMSCORE_LOG_LEVEL: 'warn',
  });

  // Changes after the snapshot: updates leaving the TOASTed `big` alone, deletes, inserts next to
  // existing ids, and one update of `big` itself.
  await withPg(async (c) => {
    await c.query(`update ${table} set note = note || ' touched', n = n + 1 where id = any($1::bigint[])`, [
      TOUCHED.map(String),
    ]);
    await c.query(`delete from ${table} where id = any($1::bigint[])`, [DELETED.map(String)]);
    await c.query(insertSql(INSERTED));
    await c.query(`update ${table} set big = big || 'x' where id = $1::bigint`, [String(P63 - 1n)]);
  });
  const expectedIds = [...IDS.filter((v) => !DELETED.includes(v)), ...INSERTED].sort((a, b) =>
    a < b ? -1 : 1,
  );

  const backfill = await runCli(['backfill', backfillFile, '--work'], {
    REDIS_URL: env.redisUrl,
    STREAMSCORE_BACKFILL_PREFIX: `par${id}`,
  });
  assert.equal(backfill.code, 0, backfill.output);
  const reference = await rowsOf(scores('backfill'));
  assert.deepEqual(
    reference.map((r) => BigInt(r.split('|')[0]!)),
    expectedIds,
    'the backfill scored every row under its exact id',
  );

  // The stream converges on the same rows (the backfill's newer position did not change them:
  // positions differ by design, so they are left out).
  for (const k of ['json', 'plain', 'avro'] as const) {
    await waitFor(
      `${k}: streamed rows equal to the backfilled ones`,
      async () => JSON.stringify(await rowsOf(scores(k))) === JSON.stringify(reference),
      120_000,
    ).catch(async (err) => {
      const got = await rowsOf(scores(k));
      const extra = got.filter((r) => !reference.includes(r)).slice(0, 5);
      const missing = reference.filter((r) => !got.includes(r)).slice(0, 5);
      throw new Error(
        `${String(err)}\nonly streamed: ${extra.join('\n')}\nonly backfilled: ${missing.join('\n')}\n${worker?.output().slice(-3000)}`,
      );
    });
  }

  // Kafka keys and the warehouse's NUMBER(38,0) key: the exact ids.
  const out = await readTopic(outputTopic, (n) => n >= IDS.length + INSERTED.length);
  const keys = new Set(out.map((m) => String(parseJsonExact(m.key!.toString()))));
  for (const v of expectedIds) assert.ok(keys.has(String(v)), `output topic key ${v}`);
  for (const v of DELETED) {
    const tomb = out.filter(
      (m) => m.value === null && String(parseJsonExact(m.key!.toString())) === String(v),
    );
    assert.equal(tomb.length, 1, `one tombstone for deleted id ${v}`);
  }
  const wh = await warehouseSession();
  try {
    await waitFor('the warehouse rows', async () => {
      const r = await wh.execute(`SELECT COUNT(*) AS N FROM ${warehouseTable(warehouse)}`);
      return Number((r[0] as { N: unknown }).N) === expectedIds.length;
    });
    const r = await wh.execute(`SELECT CAST(ID AS VARCHAR) AS ID FROM ${warehouseTable(warehouse)}`);
    const ids = r.map((x) => BigInt(String((x as { ID: unknown }).ID))).sort((a, b) => (a < b ? -1 : 1));
    assert.deepEqual(ids, expectedIds);
  } finally {
    await wh.close();
  }

  // Keyed on a non-key column: deletes are dead-lettered, naming the column; no row under key 0.
  const letters = await readTopic(dlq('acct'), (n) => n >= DELETED.length);
  assert.equal(letters.length, DELETED.length);
  for (const m of letters) {
    assert.equal(m.headers['streamscore.error.code'], 'FEATURE_KEY');
    assert.match(
      m.headers['streamscore.error.message'] ?? '',
      /reads after\.account_no, which the delete's message key \(id\)/,
    );
  }
  const zero = await withPg(
    async (c) => (await c.query(`select count(*)::int as n from ${scores('acct')} where id = 0`)).rows[0].n,
  );
  assert.equal(zero, 0);
  assert.match(worker.output(), /outside par_\w+\.items's key \(id\): its deletes cannot be keyed/);
});
