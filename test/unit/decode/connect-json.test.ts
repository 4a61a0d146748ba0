import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectJsonReader } from '../../../workers/decode/connect-json.js';
import { compileConnectSchema, connectSchemaFromAvro } from '../../../workers/decode/connect-schema.js';

const DECIMAL = {
  type: 'bytes',
  optional: true,
  name: 'org.apache.kafka.connect.data.Decimal',
  parameters: { scale: '2' },
};
const schema = (fields: object[]) => ({ type: 'struct', fields, optional: false, name: 'V' });

describe('ConnectJsonReader', () => {
  it('unwraps {schema, payload} and converts by the schema', () => {
    const r = new ConnectJsonReader({ state: { unavailable: false } });
    const text = JSON.stringify({
      schema: schema([
        { ...DECIMAL, field: 'amount' },
        { type: 'int32', name: 'io.debezium.time.Date', field: 'd' },
        { type: 'array', items: { type: 'int64', name: 'io.debezium.time.MicroTimestamp' }, field: 'ts' },
        { type: 'map', keys: { type: 'string' }, values: { ...DECIMAL }, field: 'm' },
        { type: 'string', field: 'payload' },
      ]),
      payload: { amount: 'MDk=', d: 1, ts: [1500, null], m: { a: 'AGQ=' }, payload: 'x' },
    });
    assert.deepStrictEqual(r.read(text), {
      amount: 123.45,
      d: 86_400_000,
      ts: [1.5, null],
      m: { a: 1 },
      payload: 'x',
    });
  });

  it('caches the converter by the raw schema text and parses only the payload', () => {
    const r = new ConnectJsonReader({ state: { unavailable: false } });
    const s = JSON.stringify(schema([{ ...DECIMAL, field: 'a' }]));
    const parse = JSON.parse;
    let parsed = 0;
    JSON.parse = ((t: string) => {
      parsed += t.length;
      return parse(t);
    }) as typeof JSON.parse;
    try {
      assert.deepEqual(r.read(`{"schema":${s},"payload":{"a":"MDk="}}`), { a: 123.45 });
      const first = parsed;
      parsed = 0;
      assert.deepEqual(r.read(`{"schema":${s},"payload":{"a":"AGQ="}}`), { a: 1 });
      assert.ok(first > s.length);
      assert.equal(parsed, '{"a":"AGQ="}'.length);
    } finally {
      JSON.parse = parse;
    }
  });

  it('is not fooled by `},"payload":` inside the schema', () => {
    const r = new ConnectJsonReader({ state: { unavailable: false } });
    const tricky = {
      type: 'struct',
      fields: [{ ...DECIMAL, field: 'a', parameters: { scale: '2', note: '},"payload":' } }],
    };
    const text = `{"schema":${JSON.stringify(tricky)},"payload":{"a":"MDk="}}`;
    assert.deepEqual(r.read(text), { a: 123.45 });
    assert.deepEqual(r.read(text), { a: 123.45 });
  });

  it('falls back to a full parse for unusual layouts, and passes schemaless JSON through', () => {
    const r = new ConnectJsonReader({ state: { unavailable: false } });
    const s = schema([{ ...DECIMAL, field: 'a' }]);
    assert.deepEqual(r.read(`{ "schema": ${JSON.stringify(s)}, "payload": {"a":"MDk="} }\n`), { a: 123.45 });
    assert.deepEqual(r.read(JSON.stringify({ payload: { a: 'MDk=' }, schema: s })), { a: 123.45 });
    assert.deepEqual(r.read('{"a":"MDk="}'), { a: 'MDk=' });
    assert.deepEqual(r.read('{"schema":"v1","payload":1}'), { schema: 'v1', payload: 1 });
    assert.equal(r.read('{"schema":{"type":"string"},"payload":null}'), null);
    assert.throws(() => r.read('{"schema":'), SyntaxError);
  });

  it('converts schemaless payloads with a row schema from an .avsc', () => {
    const avsc = {
      type: 'record',
      name: 'Value',
      namespace: 'crm',
      fields: [
        { name: 'id', type: 'long' },
        { name: 'spend', type: ['null', { type: 'bytes', logicalType: 'decimal', precision: 12, scale: 2 }] },
        {
          name: 'seen',
          type: ['null', { type: 'string', 'connect.name': 'io.debezium.time.ZonedTimestamp' }],
        },
        { name: 'born', type: ['null', { type: 'int', logicalType: 'date' }] },
        { name: 'again', type: ['null', 'Value'] },
      ],
    };
    const conv = connectSchemaFromAvro(avsc);
    assert.equal(conv.type, 'struct');
    const leaf = compileConnectSchema(conv, { state: { unavailable: false } })!;
    const r = new ConnectJsonReader({ state: { unavailable: false } }, leaf);
    assert.deepEqual(
      r.read(
        '{"id":1,"spend":"MDk=","seen":"2024-01-01T00:00:00Z","born":1,"again":{"id":2,"spend":"AGQ="}}',
      ),
      {
        id: 1,
        spend: 123.45,
        seen: Date.UTC(2024, 0, 1),
        born: 86_400_000,
        again: { id: 2, spend: 1 },
      },
    );
  });
});

describe('ConnectJsonReader on raw bytes', () => {
  const s1 = schema([{ ...DECIMAL, field: 'a', doc: 'Betrag in €' }]);
  const s2 = schema([{ type: 'int32', name: 'io.debezium.time.Date', field: 'a' }]);
  const bytes = (s: object, payload: string, tail = '') =>
    Buffer.from(`{"schema":${JSON.stringify(s)},"payload":${payload}${tail}}`);

  it('reuses the previous schema by comparing bytes, and notices when it changes', () => {
    const r = new ConnectJsonReader({ state: { unavailable: false } });
    assert.deepEqual(r.read(bytes(s1, '{"a":"MDk="}')), { a: 123.45 });
    assert.deepEqual(r.read(bytes(s1, '{"a":"AGQ="}')), { a: 1 });
    assert.deepEqual(r.read(bytes(s2, '{"a":1}')), { a: 86_400_000 });
    assert.deepEqual(r.read(bytes(s1, '{"a":"AGQ="}')), { a: 1 });
    // Not JsonConverter's shape (a third key): an ordinary object.
    assert.deepEqual(r.read(bytes(s1, '{"a":"AGQ="}', ',"extra":1')), {
      schema: s1,
      payload: { a: 'AGQ=' },
      extra: 1,
    });
    assert.deepEqual(r.read(bytes(s1, 'null')), null);
    assert.throws(() => r.read(bytes(s1, '{"a":')), SyntaxError);
    assert.deepEqual(r.read(Buffer.from('{"a":"MDk="}')), { a: 'MDk=' });
  });
});
