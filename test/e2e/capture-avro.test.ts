import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import avro from 'avsc';
import { parseDocument } from 'yaml';
import { exactLong } from '../../workers/sinks/kafka/avro-long.js';
import { readFixture } from '../../workers/testing/fixture.js';
import { runCli } from '../support/cli.js';
import { debeziumExample, queryTable } from '../support/debezium-example.js';
import { withPg } from '../support/stack.js';

// `streamscore capture` on pipelines/fraud-scoring.yaml in its default encoding (Avro through the
// registry): the fixture keeps the events' bytes and writer schemas, a column is redacted by
// re-encoding, and `streamscore test` replays it offline with the streaming run's results: the
// same probability and label per transaction, dead letters for a null velocity, snapshot reads skipped.
const ex = debeziumExample({
  name: 'capavro',
  table: 'transactions',
  converter: 'avro',
  ddl: (table) => `
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
    );`,
  seed: (c, table) => insert(c, table, 1, 2),
  args: ['--no-backfill', '--port', '0', 'pipelines/fraud-scoring.yaml'],
  env: (n) => env(n),
});

function env(n: { topic: string; group: string; scores: string; output: string; dlq: string }) {
  return {
    FRAUD_TOPIC: n.topic,
    FRAUD_GROUP: n.group,
    FRAUD_SCORES_TABLE: n.scores,
    FRAUD_OUTPUT_TOPIC: n.output,
    FRAUD_DLQ: n.dlq,
  };
}

function insert(
  c: { query(sql: string, params: unknown[]): Promise<unknown> },
  table: string,
  from: number,
  to: number,
) {
  return c.query(
    `insert into ${table} (card_id, amount, currency, merchant_country, card_country, merchant_risk,
                           velocity_1h, card_issued_on, created_at)
     select 1000 + g, round((1 + g * 13.7)::numeric, 2), 'EUR', (array['DE','FR',null])[1 + g % 3], 'DE',
            case when g % 4 = 0 then null else (g % 10) / 10.0 end,
            case when g % 11 = 0 then null else g % 9 end,
            case when g % 5 = 0 then null else date '2020-01-01' + g * 40 end,
            timestamptz '2025-06-01 00:00:00+00' + make_interval(secs => g * 3671)
     from generate_series($1::int, $2::int) g`,
    [from, to],
  );
}

const dir = mkdtempSync(join(tmpdir(), 'streamscore-capture-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('capture of Avro events (redacted) replays offline with the streaming run’s results', async () => {
  const N = 40;
  await withPg((c) => insert(c, ex.table, 10, 10 + N - 1));
  const nullVelocity = Array.from({ length: N }, (_, i) => 10 + i).filter((g) => g % 11 === 0).length;
  const scored = await ex.waitFor(
    `${N - nullVelocity} fraud scores`,
    async () => {
      const s = await queryTable<{ transaction_id: string; fraud_probability: number; fraud_label: string }>(
        ex.scores,
        `select transaction_id::text, fraud_probability, fraud_label from ${ex.scores}`,
      );
      return s.length >= N - nullVelocity ? s : undefined;
    },
    90_000,
  );
  const fixture = join(dir, 'fraud.json');
  const cap = await runCli(
    ['capture', 'pipelines/fraud-scoring.yaml', '--limit', '100', '--redact', 'currency', '--out', fixture],
    env(ex),
  );
  assert.equal(cap.code, 0, cap.output);
  const fx = readFixture(fixture);
  assert.equal(fx.events.length, 2 + N);
  assert.ok(fx.events.every((e) => e.encoding === 'avro' && typeof e.value_base64 === 'string'));
  assert.ok(Object.keys(fx.schemas).length >= 2, 'key and value writer schemas are kept');
  // The redacted column, read back with the event's own writer schema.
  const last = Buffer.from(fx.events.at(-1)!.value_base64!, 'base64');
  const writer = JSON.parse(fx.schemas[String(last.readInt32BE(1))]!) as avro.Schema;
  const datum = avro.Type.forSchema(writer, { wrapUnions: false, registry: { long: exactLong } }).fromBuffer(
    last.subarray(5),
  ) as { after: { currency: string; card_id: number } };
  assert.equal(datum.after.currency, '[redacted]');
  assert.ok(datum.after.card_id >= 1000);

  // `init` on the same table writes the row types Debezium registered for it (Avro converter).
  const init = await runCli([
    'init',
    '--table',
    ex.table,
    '--model',
    'pipelines/models/fraud/1',
    '--topic',
    ex.topic,
    '--out',
    join(dir, 'init', 'pipelines', 'p.yaml'),
  ]);
  assert.equal(init.code, 0, init.output);
  const ours = JSON.parse(readFileSync(join(dir, 'init', 'schemas', `${ex.table}.avsc`), 'utf8')) as {
    fields: { name: string; type: unknown }[];
  };
  const envelope = Object.values(fx.schemas)
    .map((t) => JSON.parse(t) as { name?: string; fields: { name: string; type: unknown }[] })
    .find((sc) => sc.name === 'Envelope')!;
  const before = envelope.fields.find((f) => f.name === 'before')!.type as [
    string,
    { fields: { name: string; type: unknown }[] },
  ];
  // Column defaults (Debezium adds connect.default for a DEFAULT) are not types: compared without.
  const typeOnly = (t: unknown): unknown =>
    JSON.parse(JSON.stringify(t, (k, v) => (k === 'connect.default' || k === 'default' ? undefined : v)));
  assert.deepEqual(
    ours.fields.map((f) => [f.name, typeOnly(f.type)]),
    before[1].fields.map((f) => [f.name, typeOnly(f.type)]),
  );

  const file = join(dir, 'fraud.test.yaml');
  writeFileSync(
    file,
    `pipeline: ${resolve('pipelines/fraud-scoring.yaml')}\ncases:\n  - name: captured\n    fixture: fraud.json\n`,
  );
  const upd = await runCli(['test', file, '--update'], env(ex));
  assert.equal(upd.code, 0, upd.output);
  const expect = (
    parseDocument(readFileSync(file, 'utf8')).toJS() as {
      cases: {
        expect: {
          key?: string;
          skipped?: true;
          dead_letter?: { code: string };
          outputs?: { fraud_probability: { value: number }; fraud_label: string };
        }[];
      }[];
    }
  ).cases[0]!.expect;
  assert.equal(expect.filter((e) => e.skipped).length, 2, 'the snapshot reads (op r) are not scored');
  assert.deepEqual(
    expect.filter((e) => e.dead_letter).map((e) => e.dead_letter!.code),
    Array(nullVelocity).fill('FEATURE_NULL'),
  );
  const replayed = new Map(expect.filter((e) => e.outputs).map((e) => [e.key!, e.outputs!]));
  assert.equal(replayed.size, scored.length);
  for (const s of scored) {
    const o = replayed.get(s.transaction_id)!;
    assert.ok(o, `transaction ${s.transaction_id} replayed`);
    assert.equal(o.fraud_probability.value, s.fraud_probability, s.transaction_id);
    assert.equal(o.fraud_label, s.fraud_label, s.transaction_id);
  }
  const again = await runCli(['test', file], env(ex));
  assert.equal(again.code, 0, again.output);
});
