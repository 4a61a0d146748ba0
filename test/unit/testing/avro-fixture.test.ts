import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import avro from 'avsc';
import { parseDocument } from 'yaml';
import { FIXTURE_FORMAT, type Fixture, writeFixture } from '../../../workers/testing/fixture.js';
import { runTestFile } from '../../../workers/testing/runner.js';

// pipelines/fraud-scoring.yaml reads Avro (Confluent wire format) by default: a captured Avro event,
// replayed offline with the writer schemas stored in its fixture, scores exactly as the same row
// given inline (JSON): the decoders convert both to the same values.
const row = JSON.parse(readFileSync('schemas/payments.transactions.avsc', 'utf8'));
const valueSchema = {
  type: 'record',
  name: 'Envelope',
  namespace: 'payments.public.transactions',
  fields: [
    { name: 'before', type: ['null', row], default: null },
    { name: 'after', type: ['null', 'payments.public.transactions.Value'], default: null },
    {
      name: 'source',
      type: {
        type: 'record',
        name: 'Source',
        namespace: 'io.debezium.connector.postgresql',
        fields: [
          { name: 'ts_ms', type: 'long' },
          { name: 'lsn', type: ['null', 'long'], default: null },
        ],
      },
    },
    { name: 'op', type: 'string' },
    { name: 'ts_ms', type: ['null', 'long'], default: null },
  ],
};
const keySchema = {
  type: 'record',
  name: 'Key',
  namespace: 'payments.public.transactions',
  fields: [{ name: 'transaction_id', type: { type: 'string', 'connect.name': 'io.debezium.data.Uuid' } }],
};

const framed = (id: number, schema: unknown, datum: unknown) =>
  Buffer.concat([
    Buffer.from([0, 0, 0, 0, id]),
    avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false }).toBuffer(datum),
  ]).toString('base64');

test('an Avro fixture replays through the stream’s Avro decoder like the same row inline', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'streamscore-avro-'));
  const ts = Date.parse('2025-06-01T12:00:00Z');
  const id = '0b7f6a1e-6f1b-4d2a-9c1e-3a2b1c0d9e01';
  const after = {
    transaction_id: id,
    card_id: 4242,
    amount: Buffer.from([0x10, 0x9a]), // 4250 at scale 2: 42.50
    currency: 'EUR',
    merchant_country: 'DE',
    card_country: 'FR',
    merchant_risk: 0.25,
    velocity_1h: 3,
    card_issued_on: 18_000,
    created_at: '2025-06-01T13:05:00Z',
  };
  const fixture: Fixture = {
    format: FIXTURE_FORMAT,
    pipeline: 'fraud-scoring',
    topic: 'payments.public.transactions',
    captured_at: new Date(ts).toISOString(),
    redacted: [],
    schemas: { '1': JSON.stringify(keySchema), '2': JSON.stringify(valueSchema) },
    events: [
      {
        partition: 0,
        offset: '5',
        timestamp: String(ts),
        encoding: 'avro',
        key_base64: framed(1, keySchema, { transaction_id: id }),
        value_base64: framed(2, valueSchema, {
          before: null,
          after,
          source: { ts_ms: ts, lsn: 9 },
          op: 'c',
          ts_ms: ts,
        }),
      },
    ],
  };
  writeFixture(join(dir, 'fraud.json'), fixture);
  const file = join(dir, 'fraud.test.yaml');
  writeFileSync(
    file,
    `pipeline: ${resolve('pipelines/fraud-scoring.yaml')}
source_ts: ${ts}
cases:
  - name: avro
    fixture: fraud.json
  - name: inline
    row: { transaction_id: ${id}, card_id: 4242, amount: 42.5, currency: EUR, merchant_country: DE, card_country: FR, merchant_risk: 0.25, velocity_1h: 3, card_issued_on: 18000, created_at: 2025-06-01T13:05:00Z }
`,
  );
  const r = await runTestFile(file, { update: true });
  assert.deepEqual(r.problems, []);
  const [a, b] = r.cases.map((c) => c.outcomes);
  assert.equal(a![0]!.kind, 'scored');
  assert.deepEqual(a, b);
  const written = parseDocument(readFileSync(file, 'utf8')).toJS() as { cases: { expect: unknown }[] };
  assert.deepEqual(written.cases[0]!.expect, written.cases[1]!.expect);
  const again = await runTestFile(file);
  assert.ok(again.cases.every((c) => c.mismatches.length === 0 && !c.missing));
});
