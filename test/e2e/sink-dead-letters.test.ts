import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { YAMLMap, YAMLSeq } from 'yaml';
import { CUSTOMERS_DDL, insertCustomers } from '../support/churn.js';
import { type RunningCli, startCli } from '../support/cli.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import {
  deleteGroups,
  deleteTopics,
  dropDebezium,
  dropPgTables,
  dropSnowflakeTables,
  readTopic,
  registerDebeziumWith,
  type TopicMessage,
  uniqueId,
  withPg,
} from '../support/stack.js';
import { header, waitCommitted } from '../support/topics.js';
import { warehouseSession, warehouseTable } from '../support/warehouse.js';

// README, "Nothing is dropped silently": a row a sink rejects for its values does not fail its
// batch; its source message is dead-lettered (stage `sink`, code SINK_DATA, the sink and the key
// named), every other row is written, and the other sinks still receive the rejected row.
// Real Debezium events (JsonConverter, an InsertHeader transform so they carry a header) through
// `streamscore run` into two sinks: a Postgres table whose CHECK constraint rejects one customer,
// and a warehouse (fakesnow) table whose NUMBER(2,0) column rejects another.
const id = uniqueId();
const CUSTOMERS = 40;
/** signup_date 1900-01-01: tenure_months ≈ 1,500; the scores table allows < 600. */
const PG_REJECTS = 7;
/** 500 seats: the warehouse column SEATS is NUMBER(2,0) (fakesnow: 100035/22007, a Conversion Error). */
const SF_REJECTS = 23;
const table = `crm.customers_${id}`;
const scores = `ml.sdl_${id}`;
const whTable = `SDL_${id.toUpperCase()}`;
const prefix = `sdl${id}`;
const topic = `${prefix}.${table}`;
const dlq = `sdl-${id}.dlq`;
const group = `sdl-${id}`;
const connector = `sink_dl_${id}`;
const HEADER = 'crm.origin';
const headerValue = `sink-dead-letters-${id}`;

// The churn pipeline with exactly two sinks: Postgres (the table made here, not by the sink) and the
// warehouse's current-scores MERGE with the seats feature as a column.
const file = churnPipelineCopy(`sdl-${id}`, {
  edit: (doc) => {
    const sinks = doc.getIn(['spec', 'sinks']) as YAMLSeq<YAMLMap>;
    const postgres = sinks.items.find((s) => s.has('postgres'))!;
    const warehouse = sinks.items.find((s) => s.has('snowflake'))!;
    sinks.items = [postgres, warehouse];
    doc.setIn(['spec', 'sinks', 0, 'postgres', 'create_table'], false);
    doc.setIn(['spec', 'sinks', 1, 'snowflake', 'columns', 'SEATS'], 'feature.seats');
  },
});
const cliEnv = {
  CHURN_TOPIC: topic,
  CHURN_GROUP: group,
  CHURN_SCORES_TABLE: scores,
  CHURN_WH_TABLE: whTable,
  CHURN_DLQ: dlq,
  CHURN_ENCODING: 'json',
  METRICS_PORT: '0',
};
let worker: RunningCli | undefined;

before(async () => {
  await withPg(async (c) => {
    await c.query(CUSTOMERS_DDL(table));
    await insertCustomers(c, table, 1, CUSTOMERS);
    await c.query(`update ${table} set signup_date = '1900-01-01' where customer_id = $1`, [PG_REJECTS]);
    await c.query(`update ${table} set seats = 500 where customer_id = $1`, [SF_REJECTS]);
    await c.query(`
      create table ${scores} (
        customer_id bigint primary key,
        churn_probability double precision,
        churn_label bigint,
        tenure_months double precision constraint tenure_plausible check (tenure_months < 600),
        model_sha256 text,
        model_name text not null,
        model_version text not null,
        source_position numeric(38,0) not null,
        scored_at timestamptz not null
      );
      create table ${scores}__tombstones (
        customer_id bigint primary key,
        source_position numeric(38,0) not null,
        deleted_at timestamptz not null
      );`);
  });
  const wh = await warehouseSession();
  try {
    await wh.execute(`CREATE TABLE ${warehouseTable(whTable)} (
      CUSTOMER_ID NUMBER(38,0) NOT NULL,
      CHURN_PROBABILITY FLOAT,
      CHURN_LABEL NUMBER(38,0),
      SEATS NUMBER(2,0),
      MODEL_NAME VARCHAR NOT NULL,
      MODEL_VERSION VARCHAR NOT NULL,
      SOURCE_POSITION NUMBER(38) NOT NULL,
      SCORED_AT TIMESTAMP_TZ NOT NULL,
      PRIMARY KEY (CUSTOMER_ID))`);
  } finally {
    await wh.close();
  }
  await registerDebeziumWith(
    { name: connector, topicPrefix: prefix, tables: [table], converter: 'json' },
    {
      transforms: 'origin',
      'transforms.origin.type': 'org.apache.kafka.connect.transforms.InsertHeader',
      'transforms.origin.header': HEADER,
      'transforms.origin.value.literal': headerValue,
    },
  );
  worker = startCli(['run', '--no-backfill', file], cliEnv);
});

after(async () => {
  await worker?.stop();
  await dropDebezium(connector);
  await deleteTopics([topic, dlq]);
  await deleteGroups([group]);
  await dropPgTables(table, scores);
  await dropSnowflakeTables(whTable);
});

const allIds = Array.from({ length: CUSTOMERS }, (_, i) => i + 1);

async function pgScores(): Promise<Map<number, number>> {
  return withPg(async (c) => {
    const r = await c.query(`select customer_id, churn_probability from ${scores}`);
    return new Map(r.rows.map((x) => [Number(x.customer_id), Number(x.churn_probability)]));
  });
}

async function whScores(): Promise<Map<number, { p: number; seats: number }>> {
  const wh = await warehouseSession();
  try {
    const rows = await wh.execute(
      `SELECT CUSTOMER_ID, CHURN_PROBABILITY, SEATS FROM ${warehouseTable(whTable)}`,
    );
    return new Map(
      rows.map((r) => [
        Number(r['CUSTOMER_ID']),
        { p: Number(r['CHURN_PROBABILITY']), seats: Number(r['SEATS']) },
      ]),
    );
  } finally {
    await wh.close();
  }
}

const customerOf = (m: TopicMessage) => Number(JSON.parse(String(m.value)).payload.after.customer_id);

test('a row each sink rejects is dead-lettered with its source message; the other sink and every other row are written', async () => {
  // Offsets are committed only once every sink has written the batch and its dead letters are in.
  await waitCommitted(group, topic, BigInt(CUSTOMERS), 120000).catch((err) => {
    throw new Error(`${err}; worker output:\n${worker!.output().slice(-3000)}`);
  });
  const pg = await pgScores();
  const wh = await whScores();
  assert.deepEqual(
    [...pg.keys()].sort((a, b) => a - b),
    allIds.filter((k) => k !== PG_REJECTS),
    'Postgres holds every customer but the one its CHECK rejects (the warehouse-rejected one included)',
  );
  assert.deepEqual(
    [...wh.keys()].sort((a, b) => a - b),
    allIds.filter((k) => k !== SF_REJECTS),
    'the warehouse holds every customer but the one its NUMBER(2,0) rejects (the Postgres-rejected one included)',
  );
  for (const [k, p] of pg) if (wh.has(k)) assert.ok(Math.abs(wh.get(k)!.p - p) < 1e-6, `customer ${k}`);
  assert.equal(
    wh.get(PG_REJECTS)!.seats,
    1 + (PG_REJECTS % 40),
    'the warehouse row of the Postgres-rejected customer',
  );

  const letters = await readTopic(dlq);
  const source = new Map((await readTopic(topic)).map((m) => [`${m.partition}:${m.offset}`, m]));
  assert.equal(source.size, CUSTOMERS, 'one snapshot event per customer on the source topic');
  const byCustomer = new Map<number, TopicMessage>();
  for (const letter of letters) {
    assert.equal(header(letter, 'streamscore.source.topic'), topic);
    const at = `${header(letter, 'streamscore.source.partition')}:${header(letter, 'streamscore.source.offset')}`;
    const original = source.get(at);
    assert.ok(original, `the dead letter names a message of ${topic} (${at})`);
    assert.ok(letter.key && original.key && letter.key.equals(original.key), `key bytes of ${at}`);
    assert.ok(
      letter.value && original.value && letter.value.equals(original.value),
      `the dead letter holds the original value bytes of ${at}:\n${String(letter.value).slice(0, 200)}`,
    );
    assert.equal(header(original, HEADER), headerValue, 'the Debezium event carries the transform’s header');
    for (const [k, v] of Object.entries(original.headers)) {
      assert.ok(letter.headers[k]?.equals(v), `the dead letter keeps the original header ${k}`);
    }
    byCustomer.set(customerOf(original), letter);
  }
  assert.deepEqual(
    [...byCustomer.keys()].sort((a, b) => a - b),
    [PG_REJECTS, SF_REJECTS],
    `exactly one dead letter per rejected row, got ${letters.length}`,
  );

  const pgLetter = byCustomer.get(PG_REJECTS)!;
  assert.equal(header(pgLetter, 'streamscore.error.stage'), 'sink');
  assert.equal(header(pgLetter, 'streamscore.error.code'), 'SINK_DATA');
  assert.equal(header(pgLetter, 'streamscore.pipeline'), 'churn-scoring');
  assert.match(
    header(pgLetter, 'streamscore.error.message'),
    new RegExp(
      `^postgres:${scores.replace('.', '\\.')} rejected the prediction for key ${PG_REJECTS} .*tenure_plausible`,
    ),
  );
  const whLetter = byCustomer.get(SF_REJECTS)!;
  assert.equal(header(whLetter, 'streamscore.error.stage'), 'sink');
  assert.equal(header(whLetter, 'streamscore.error.code'), 'SINK_DATA');
  assert.match(
    header(whLetter, 'streamscore.error.message'),
    new RegExp(
      `^snowflake:STREAMSCORE\\.PUBLIC\\.${whTable} rejected the prediction for key ${SF_REJECTS} .*100035`,
    ),
  );

  assert.equal(worker!.child.exitCode, null, `the worker is still up:\n${worker!.output().slice(-2000)}`);
  assert.equal(await worker!.stop('SIGTERM'), 0, worker!.output().slice(-2000));
});
