import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { makePosition } from '../../../workers/core/position.js';
import type { DecodedBatch } from '../../../workers/core/types.js';
import { debeziumDecoderConfig } from '../../../workers/decode/debezium/config.js';
import { createDebeziumDecoder } from '../../../workers/decode/debezium/decoder.js';
import { fixtureSchemas, loadMessages, memoryRegistry } from './helpers.js';

/**
 * Real Debezium 3.6.1 events for decode_fx.types (fixtures/capture*.sql), captured from Kafka with
 * JsonConverter (schemas on, off) and Apicurio's AvroConverter in Confluent wire format.
 */

const md5s = (f: (i: number) => number) => {
  let s = '';
  for (let i = 1; i <= 400; i++)
    s += createHash('md5')
      .update(String(f(i)))
      .digest('hex');
  return s;
};
const BIG_1 = md5s((i) => i);
const BIG_2 = md5s((i) => i * 7);

/** Row 1 as the snapshot read it, every column converted. */
const ROW_1 = {
  id: 1,
  amount: 12345.67,
  ratio: Number('3.14159265358979'), // numeric, not π
  d: Date.UTC(2024, 0, 15),
  t: 49_530_123.456,
  t3: 49_530_123,
  ts: 1_705_326_330_123.456,
  ts3: 1_705_326_330_123,
  tstz: 1_705_319_130_123.456,
  note: 'hello',
  active: true,
  uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  doc: { plan: 'pro', seats: [1, 2] },
  big: BIG_1,
  bin: Buffer.from('deadbeef', 'hex').toString('base64'),
  tags: ['a', 'b'],
};

const ROW_2 = {
  id: 2,
  amount: -0.05,
  // numeric -12345678901234567890.123456789 → the nearest double
  ratio: Number('-12345678901234567890.123456789'),
  d: -86_400_000,
  t: 0,
  t3: 86_399_999,
  ts: -302_486_399_999.999,
  ts3: -302_486_399_500,
  tstz: Date.UTC(2024, 6, 1),
  note: null,
  active: false,
  uid: null,
  doc: [1, 'x', null],
  big: 'short',
  bin: null,
  tags: [],
};

const NULL_ROW_2 = Object.fromEntries(Object.keys(ROW_2).map((k) => [k, k === 'id' ? 2 : null]));

type Encoding = 'json-schemas' | 'json-plain' | 'avro';

async function decode(encoding: Encoding, config: Record<string, unknown> = {}): Promise<DecodedBatch> {
  const schemas = fixtureSchemas();
  const registry = memoryRegistry(schemas);
  const decoder = createDebeziumDecoder(
    debeziumDecoderConfig.parse({ encoding: encoding === 'avro' ? 'avro' : 'json', ...config }),
    {
      registry,
      // The Avro value schema of the same table doubles as the row schema for schemaless JSON.
      rowSchema: encoding === 'json-plain' ? JSON.parse(schemas['2']!) : undefined,
    },
  );
  return decoder.decodeBatch(loadMessages(`pg-types.${encoding}.jsonl`));
}

for (const encoding of ['json-schemas', 'json-plain', 'avro'] as const) {
  describe(`real Debezium events, ${encoding}`, () => {
    it('decodes r, c, u, u, d and skips the tombstone', async () => {
      const out = await decode(encoding);
      assert.deepEqual(out.failures, []);
      assert.equal(out.skipped, 1);
      assert.deepEqual(
        out.records.map((r) => r.op),
        ['r', 'c', 'u', 'u', 'd'],
      );
    });

    it('converts every column type to its exact value', async () => {
      const [read, create, , update2, del] = (await decode(encoding)).records;
      assert.deepStrictEqual(read!.root['after'], ROW_1);
      assert.equal(read!.root['before'], null);
      assert.deepStrictEqual(create!.root['after'], ROW_2);
      assert.deepStrictEqual(update2!.root['after'], { ...ROW_2, big: BIG_2 });
      assert.deepStrictEqual(del!.root['before'], NULL_ROW_2);
      assert.equal(del!.root['after'], null);
    });

    it('exposes key, op, ts_ms and source; positions by commit µs then LSN', async () => {
      const { records } = await decode(encoding);
      for (const r of records) {
        const source = r.root['source'] as { ts_ms: number; ts_us: number; lsn: number; table: string };
        assert.equal(source.table, 'types');
        assert.equal(r.sourceTsMs, source.ts_ms);
        assert.equal(r.position, makePosition(source.ts_us, source.lsn));
        assert.equal(r.root['op'], r.op);
        assert.equal(typeof r.root['ts_ms'], 'number');
        assert.equal(r.origin?.topic.endsWith('.decode_fx.types'), true);
      }
      assert.deepEqual(
        records.map((r) => r.root['key']),
        [{ id: 1 }, { id: 2 }, { id: 1 }, { id: 2 }, { id: 2 }],
      );
      // Later changes of the same row are ordered after earlier ones.
      assert.ok(records[3]!.position > records[1]!.position);
      assert.ok(records[4]!.position > records[3]!.position);
    });

    it("unavailable_value 'before' without a before image gives null for the unchanged TOASTed column", async () => {
      const update1 = (await decode(encoding)).records[2]!;
      assert.deepStrictEqual(update1.root['after'], { ...ROW_1, note: 'updated', amount: 0, big: null });
    });

    it("unavailable_value 'reject' fails that record only, naming the column", async () => {
      const out = await decode(encoding, { unavailable_value: 'reject' });
      assert.equal(out.records.length, 4);
      assert.equal(out.failures.length, 1);
      const { error, message } = out.failures[0]!;
      assert.equal(error.code, 'DECODE_UNAVAILABLE_VALUE');
      assert.equal(error.stage, 'decode');
      assert.equal(error.retryable, false);
      assert.deepEqual(error.context['columns'], ['big']);
      assert.equal(message.offset, '2');
      assert.match(error.message, /decode_fx\.types\/0@2: .*big/);
    });
  });
}

describe('real Debezium events, across encodings', () => {
  it('JSON with schemas, JSON without (plus the row .avsc) and Avro give identical rows and keys', async () => {
    const [a, b, c] = await Promise.all([decode('json-schemas'), decode('json-plain'), decode('avro')]);
    const rows = (d: DecodedBatch) =>
      d.records.map((r) => [r.root['before'], r.root['after'], r.root['key']]);
    assert.deepStrictEqual(rows(b), rows(a));
    assert.deepStrictEqual(rows(c), rows(a));
  });

  it('JSON without schemas and without a row schema still resolves the placeholder (values stay raw)', async () => {
    const decoder = createDebeziumDecoder(debeziumDecoderConfig.parse({}), {});
    const out = await decoder.decodeBatch(loadMessages('pg-types.json-plain.jsonl'));
    assert.equal(out.records.length, 5);
    const after = out.records[2]!.root['after'] as Record<string, unknown>;
    assert.equal(after['big'], null);
    assert.equal(after['amount'], 'AA==');
    assert.equal(after['d'], 19737);
  });
});

describe('real Debezium events, REPLICA IDENTITY FULL', () => {
  for (const encoding of ['json-schemas', 'avro'] as const) {
    it(`${encoding}: before and after both carry the TOASTed value (no placeholder)`, async () => {
      const decoder = createDebeziumDecoder(
        debeziumDecoderConfig.parse({
          encoding: encoding === 'avro' ? 'avro' : 'json',
          unavailable_value: 'reject',
        }),
        { registry: memoryRegistry(fixtureSchemas()) },
      );
      const out = await decoder.decodeBatch(loadMessages(`pg-types-full.${encoding}.jsonl`));
      assert.deepEqual(out.failures, []);
      const update = out.records[1]!;
      assert.equal(update.op, 'u');
      assert.deepStrictEqual(update.root['before'], { id: 1, amount: 10.5, note: 'hello', big: BIG_1 });
      assert.deepStrictEqual(update.root['after'], { id: 1, amount: 10.5, note: 'updated', big: BIG_1 });
    });
  }
});
