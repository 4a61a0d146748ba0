import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro from 'avsc';
import { PipelineError } from '../../../workers/core/errors.js';
import { makePosition } from '../../../workers/core/position.js';
import { avroDecoder } from '../../../workers/decode/avro/index.js';
import { createDecoder } from '../../../workers/decode/create.js';
import { debeziumDecoder } from '../../../workers/decode/debezium/index.js';
import { jsonDecoder } from '../../../workers/decode/json/index.js';
import { memoryRegistry, message } from './helpers.js';

describe('plain JSON decoder', () => {
  it('exposes the fields plus the message key; op c; positioned by timestamp µs then offset', async () => {
    const d = createDecoder({ json: {} });
    const out = await d.decodeBatch([
      message('{"customer_id":42,"plan":"pro"}', {
        key: Buffer.from('42'),
        offset: '12',
        timestamp: '1700000000123',
      }),
    ]);
    const r = out.records[0]!;
    assert.deepEqual(r.root, { customer_id: 42, plan: 'pro', key: 42 });
    assert.equal(r.op, 'c');
    assert.equal(r.position, makePosition(1_700_000_000_123_000, 12));
    assert.equal(r.sourceTsMs, 1_700_000_000_123);
    assert.equal(r.origin?.offset, '12');
  });

  it('takes key_field when the message has no key, keeps a key field of its own otherwise', async () => {
    const withField = createDecoder({ json: { key_field: 'customer_id' } });
    const a = await withField.decodeBatch([message('{"customer_id":7}')]);
    assert.equal(a.records[0]!.root['key'], 7);
    const b = await createDecoder({ json: {} }).decodeBatch([message('{"key":"own"}'), message('{"x":1}')]);
    assert.deepEqual(
      b.records.map((r) => r.root['key']),
      ['own', null],
    );
  });

  it('unwraps JsonConverter schemas, converts by a row schema, fails non-objects', async () => {
    const rowSchema = {
      type: 'record',
      name: 'R',
      fields: [
        { name: 'spend', type: ['null', { type: 'bytes', logicalType: 'decimal', precision: 9, scale: 2 }] },
      ],
    };
    const d = createDecoder({ json: {} }, { rowSchema });
    const out = await d.decodeBatch([
      message('{"spend":"MDk="}'),
      message(
        '{"schema":{"type":"struct","fields":[{"type":"int32","name":"io.debezium.time.Date","field":"d"}]},"payload":{"d":2}}',
      ),
      message('[1,2]', { offset: '3' }),
      message('nope', { offset: '4' }),
      message(null),
    ]);
    assert.deepEqual(
      out.records.map((r) => r.root),
      [
        { spend: 123.45, key: null },
        { d: 172_800_000, key: null },
      ],
    );
    assert.deepEqual(
      out.failures.map((f) => [f.message.offset, f.error.code]),
      [
        ['3', 'DECODE_JSON'],
        ['4', 'DECODE_JSON'],
      ],
    );
    assert.equal(out.skipped, 1);
  });
});

describe('plain Avro decoder', () => {
  const schema = {
    type: 'record',
    name: 'Txn',
    fields: [
      { name: 'id', type: 'long' },
      { name: 'amount', type: { type: 'bytes', logicalType: 'decimal', precision: 9, scale: 2 } },
      { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    ],
  };
  const frame = (id: number, body: Buffer) => {
    const head = Buffer.alloc(5);
    head.writeInt32BE(id, 1);
    return Buffer.concat([head, body]);
  };
  const registry = () => memoryRegistry({ '7': JSON.stringify(schema), '8': '"string"' });
  const body = avro.Type.forSchema(schema as avro.Schema).toBuffer({
    id: 5,
    amount: Buffer.from([0x30, 0x39]),
    at: 1000,
  });

  it('decodes Confluent-framed records and keys (Avro or text)', async () => {
    const d = createDecoder(
      { avro: { schema_registry: { url: 'http://127.0.0.1:18081/apis/ccompat/v7' } } },
      { registry: registry() },
    );
    const avroKey = frame(8, avro.Type.forSchema('string').toBuffer('k-1'));
    const out = await d.decodeBatch([
      message(frame(7, body), { key: avroKey }),
      message(frame(7, body), { key: Buffer.from('plain-key') }),
      message(frame(7, body.subarray(0, 3)), { offset: '9' }),
    ]);
    assert.deepEqual(
      out.records.map((r) => r.root),
      [
        { id: 5, amount: 123.45, at: 1000, key: 'k-1' },
        { id: 5, amount: 123.45, at: 1000, key: 'plain-key' },
      ],
    );
    assert.equal(out.failures[0]!.error.code, 'DECODE_AVRO');
    assert.equal(out.records[0]!.op, 'c');
  });

  it('fails a value whose schema is not a record type', async () => {
    const d = createDecoder({ avro: { schema_registry: { url: 'http://x' } } }, { registry: registry() });
    const out = await d.decodeBatch([message(frame(8, avro.Type.forSchema('string').toBuffer('s')))]);
    assert.equal(out.failures[0]!.error.code, 'DECODE_AVRO');
    assert.match(out.failures[0]!.error.message, /expected a record/);
  });
});

describe('createDecoder', () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return PipelineError.is(err) ? err.code : String(err);
    }
    return 'no error';
  };
  it('needs exactly one decoder type and a valid config', () => {
    assert.equal(
      code(() => createDecoder({})),
      'DECODE_CONFIG',
    );
    assert.equal(
      code(() => createDecoder({ json: {}, debezium: {} })),
      'DECODE_CONFIG',
    );
    assert.equal(
      code(() => createDecoder({ debezium: { encoding: 'xml' } })),
      'DECODE_CONFIG',
    );
    assert.equal(
      code(() => createDecoder({ avro: { schema_registry: { url: 'http://x' } } })),
      'DECODE_CONFIG',
    );
    assert.equal(
      code(() => createDecoder({ debezium: {} })),
      'no error',
    );
    assert.throws(() => createDecoder({ debezium: { encoding: 'xml' } }), /spec\.decode\.debezium\.encoding/);
  });
  it("builds every component's documented examples", () => {
    for (const spec of [debeziumDecoder, jsonDecoder, avroDecoder]) {
      for (const example of spec.examples) {
        const d = createDecoder({ [spec.type]: example }, { registry: memoryRegistry({}) });
        assert.equal(typeof d.decodeBatch, 'function');
      }
    }
  });
});
