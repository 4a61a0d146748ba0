import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { debeziumExample, query, queryTable } from '../support/debezium-example.js';
import { referenceSession, runReference } from '../support/onnx-reference.js';
import { withPg } from '../support/stack.js';
import { header, readTopicUntil, topicEnd, waitCommitted } from '../support/topics.js';

// pipelines/fraud-scoring.yaml as shipped: payments captured by a real Debezium connector in its
// default encoding (Avro through the registry), only inserts scored (score_ops [c]), string
// classes read with probabilities['fraud'], deletes ignored. Every score must equal onnxruntime's,
// run directly on features computed here from the table's own columns.
const DDL = (table: string) => `
  create table ${table} (
    transaction_id uuid primary key default gen_random_uuid(),
    card_id bigint not null,
    amount numeric(14,2) not null,
    currency text not null,
    merchant_country text,
    card_country text,
    merchant_risk double precision,
    velocity_1h int,
    card_issued_on date,
    created_at timestamptz not null
  );`;

/** Deterministic transactions for g in [from, to]: nulls, foreign cards, night hours, µs timestamps. */
function insertTransactions(c: pg.Client, table: string, from: number, to: number, currency = 'EUR') {
  return c.query(
    `insert into ${table} (card_id, amount, currency, merchant_country, card_country, merchant_risk,
                           velocity_1h, card_issued_on, created_at)
     select 1000 + g % 37, round((1 + (g * 7919 % 500000) / 100.0)::numeric, 2), $3,
            (array['DE','FR','US',null])[1 + g % 4], (array['DE','DE','FR',null,'US'])[1 + g % 5],
            case when g % 7 = 0 then null else ((g * 31 % 100) / 100.0)::float8 end,
            case when g % 23 = 0 then null else g % 12 end,
            case when g % 9 = 0 then null else date '2015-01-01' + (g * 53 % 3600) end,
            timestamptz '2024-06-01 00:00:00+00' + make_interval(secs => g * 3607)
              + make_interval(secs => (g * 123457 % 1000000) / 1e6)
     from generate_series($1::int, $2::int) g`,
    [from, to, currency],
  );
}
/** The rows g in 1..200 whose velocity_1h is null (g % 23 = 0): dead-lettered, not scored. */
const NULL_VELOCITY = 8;

const ex = debeziumExample({
  name: 'fraud',
  table: 'transactions',
  converter: 'avro',
  ddl: DDL,
  // Captured by the snapshot (op r): not scored, as score_ops is [c].
  seed: (c, table) => insertTransactions(c, table, 1001, 1003, 'SNAPSHOT'),
  args: ['--no-backfill', '--port', '0', 'pipelines/fraud-scoring.yaml'],
  env: (n) => ({
    FRAUD_TOPIC: n.topic,
    FRAUD_GROUP: n.group,
    FRAUD_SCORES_TABLE: n.scores,
    FRAUD_OUTPUT_TOPIC: n.output,
    FRAUD_DLQ: n.dlq,
  }),
});

interface Input {
  transaction_id: string;
  amount: string;
  merchant_country: string | null;
  card_country: string | null;
  merchant_risk: number | null;
  velocity_1h: number | null;
  card_issued_on: string | null;
  created_ms: string;
  hour: number;
}

/** The fraud features written out by hand, in the model's input order (manifest.yaml). */
function fraudFeatures(r: Input): number[] {
  const createdMs = Number(r.created_ms);
  return [
    Math.log1p(Number(r.amount)),
    r.hour,
    // `!=` treats null as a value (FUNCTIONS.md): a missing country differs from a known one.
    r.merchant_country !== r.card_country ? 1 : 0,
    r.merchant_risk ?? 0.5,
    r.velocity_1h!,
    r.card_issued_on === null ? 0 : (createdMs - Date.parse(r.card_issued_on)) / 86_400_000,
  ];
}

interface Score {
  transaction_id: string;
  fraud_probability: number;
  fraud_label: string;
  position: string;
}

const scores = () =>
  queryTable<Score>(
    ex.scores,
    `select transaction_id, fraud_probability, fraud_label, source_position::text as position from ${ex.scores}`,
  );

test('fraud: inserted payments are scored equal to onnxruntime (probabilities[fraud], string labels); snapshot rows are not', async () => {
  await withPg((c) => insertTransactions(c, ex.table, 1, 200));
  const expected = 200 - NULL_VELOCITY;
  const got = await ex.waitFor(
    `${expected} fraud scores`,
    async () => {
      const s = await scores();
      return s.length >= expected ? s : undefined;
    },
    90_000,
  );
  // The columns as they are: created_at to the microsecond (epoch ms with a fraction), dates as text.
  const inputs = await query<Input>(
    `select transaction_id::text, amount::text, merchant_country, card_country, merchant_risk, velocity_1h,
            card_issued_on::text, (extract(epoch from created_at) * 1000)::text as created_ms,
            extract(hour from created_at at time zone 'UTC')::int as hour
     from ${ex.table} where velocity_1h is not null and currency = 'EUR' order by transaction_id`,
  );
  assert.equal(inputs.length, expected);
  const byId = new Map(got.map((s) => [s.transaction_id, s]));
  const session = await referenceSession('pipelines/models/fraud/1/model.onnx', ['proba_output']);
  const out = await runReference(session, inputs.map(fraudFeatures), ['output_label', 'proba_output']);
  await session.release();
  // scikit-learn sorts the classes: column 0 is 'fraud', column 1 'legit' (manifest.yaml).
  const proba = out['proba_output']!.data as Float32Array;
  const labels = out['output_label']!.data as string[];
  // The features the worker used, as its output topic carries them: equal to ours (as float32).
  const published = await outputValues(got.length);
  inputs.forEach((r, i) => {
    const s = byId.get(r.transaction_id);
    assert.ok(s, `transaction ${r.transaction_id} has no score`);
    const theirs = FEATURES.map((f) => Math.fround(Number(published.get(r.transaction_id)?.features[f])));
    assert.deepEqual(
      theirs,
      fraudFeatures(r).map(Math.fround),
      `transaction ${r.transaction_id}: features ${FEATURES}`,
    );
    assert.equal(s.fraud_probability, proba[i * 2], `transaction ${r.transaction_id}: fraud probability`);
    assert.equal(s.fraud_label, labels[i], `transaction ${r.transaction_id}: label`);
  });
  assert.ok(labels.includes('fraud') && labels.includes('legit'), `both classes among ${new Set(labels)}`);
  assert.equal(got.length, expected, 'the snapshot rows (op r) are not scored');
});

const FEATURES = ['amount_log', 'hour', 'is_foreign', 'merchant_risk', 'velocity_1h', 'card_age_days'];

interface Published {
  fraud_probability: number;
  fraud_label: string;
  features: Record<string, unknown>;
}

/** The output topic's latest message by transaction id, once it holds `atLeast` messages. */
async function outputValues(atLeast: number): Promise<Map<string, Published>> {
  const out = await readTopicUntil(ex.output, (m) => m.length >= atLeast);
  return new Map(
    out
      .filter((m) => m.value !== null)
      .map((m) => [JSON.parse(String(m.key)) as string, JSON.parse(String(m.value)) as Published]),
  );
}

test('fraud: a payment without velocity_1h is dead-lettered with its Avro bytes; the output topic has every score', async () => {
  const letters = await readTopicUntil(ex.dlq, (m) => m.length >= NULL_VELOCITY);
  assert.equal(letters.length, NULL_VELOCITY);
  for (const l of letters) {
    assert.equal(header(l, 'streamscore.error.code'), 'FEATURE_NULL');
    assert.equal(header(l, 'streamscore.error.stage'), 'features');
    assert.match(header(l, 'streamscore.error.message'), /velocity_1h is null/);
    assert.equal(header(l, 'streamscore.pipeline'), 'fraud-scoring');
    assert.equal(header(l, 'streamscore.source.topic'), ex.topic);
    assert.equal(l.value?.[0], 0, 'the original Confluent wire-format bytes (magic byte 0)');
  }
  const s = await scores();
  const latest = await outputValues(s.length);
  for (const row of s) {
    const v = latest.get(row.transaction_id);
    assert.ok(v, `no output message for ${row.transaction_id}`);
    assert.equal(v.fraud_probability, row.fraud_probability);
    assert.equal(v.fraud_label, row.fraud_label);
  }
});

test('fraud: updates are not rescored (score_ops [c]) and deletes leave the score (on_delete: ignore)', async () => {
  const before = new Map((await scores()).map((s) => [s.transaction_id, s]));
  const end = await topicEnd(ex.topic);
  const changed = await query<{ id: string }>(
    `select transaction_id::text as id from ${ex.table} where velocity_1h is not null order by transaction_id limit 20`,
  );
  const ids = changed.map((r) => r.id);
  await query(
    `update ${ex.table} set merchant_risk = 0.99, velocity_1h = 11 where transaction_id = any($1::uuid[])`,
    [ids.slice(0, 10)],
  );
  await query(`delete from ${ex.table} where transaction_id = any($1::uuid[])`, [ids.slice(10)]);
  // 10 updates, 10 deletes and their 10 tombstones, all committed by the worker.
  await waitCommitted(ex.group, ex.topic, end + 30n);
  const after = new Map((await scores()).map((s) => [s.transaction_id, s]));
  assert.equal(after.size, before.size);
  for (const id of ids) assert.deepEqual(after.get(id), before.get(id), `transaction ${id} unchanged`);
});
