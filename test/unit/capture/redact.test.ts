import assert from 'node:assert/strict';
import { test } from 'node:test';
import avro from 'avsc';
import { REDACTED, RedactionError, redactAvro, redactJson } from '../../../workers/capture/redact.js';
import { exactLong } from '../../../workers/sinks/kafka/avro-long.js';

const cols = new Set(['email', 'score', 'seats']);
const typeOf = (c: string) =>
  ({
    email: { string: true, nullable: false },
    score: { string: false, nullable: true },
    seats: { string: false, nullable: false },
  })[c];

test('JSON with schemas: text becomes [redacted], a nullable column null, in before and after', () => {
  const field = (f: string, type: string, optional: boolean) => ({ field: f, type, optional });
  const row = [field('email', 'string', false), field('score', 'double', true)];
  const msg = {
    schema: {
      type: 'struct',
      fields: [
        { field: 'before', type: 'struct', fields: row },
        { field: 'after', type: 'struct', fields: row },
      ],
    },
    payload: { before: { email: 'a@x', score: 1.5 }, after: { email: 'b@x', score: 2 }, op: 'u' },
  };
  redactJson(msg, new Set(['email', 'score']), () => undefined, 't/0@1');
  assert.deepEqual(msg.payload.before, { email: REDACTED, score: null });
  assert.deepEqual(msg.payload.after, { email: REDACTED, score: null });
});

test('schemaless JSON takes the column types from the input schema; a non-null number cannot be redacted', () => {
  const msg = { after: { email: 'b@x', score: 3, seats: 4 }, before: null, op: 'c' };
  assert.throws(
    () => redactJson(msg, cols, typeOf, 't/0@7'),
    (e: unknown) =>
      e instanceof RedactionError &&
      /t\/0@7: cannot redact column seats: it is neither text nor nullable/.test(e.message),
  );
  const key = { email: 'k@x' };
  redactJson(key, new Set(['email']), typeOf, 't/0@7');
  assert.deepEqual(key, { email: REDACTED });
});

test('Avro: decoded with the writer schema, redacted, encoded again behind the same header', () => {
  const schema = {
    type: 'record',
    name: 'Envelope',
    fields: [
      {
        name: 'before',
        type: [
          'null',
          {
            type: 'record',
            name: 'Value',
            fields: [
              { name: 'email', type: 'string' },
              { name: 'score', type: ['null', 'double'] },
            ],
          },
        ],
      },
      { name: 'after', type: ['null', 'Value'] },
      { name: 'op', type: 'string' },
      { name: 'ts_ns', type: 'long' },
    ],
  };
  const type = avro.Type.forSchema(schema as avro.Schema, {
    wrapUnions: false,
    registry: { long: exactLong },
  });
  const header = Buffer.from([0, 0, 0, 0, 7]);
  const buf = Buffer.concat([
    header,
    type.toBuffer({
      before: null,
      after: { email: 'x@y', score: 0.5 },
      op: 'c',
      ts_ns: 1_748_736_000_123_456_789n,
    }),
  ]);
  const out = redactAvro(buf, JSON.stringify(schema), new Set(['email', 'score']), 't/0@1');
  assert.deepEqual(out.subarray(0, 5), header);
  const back = type.fromBuffer(out.subarray(5)) as { ts_ns: bigint };
  assert.equal(back.ts_ns, 1_748_736_000_123_456_789n, 'a long past 2^53 comes back exactly');
  assert.deepEqual(JSON.parse(JSON.stringify(back, (_k, v) => (typeof v === 'bigint' ? String(v) : v))), {
    before: null,
    after: { email: REDACTED, score: null },
    op: 'c',
    ts_ns: '1748736000123456789',
  });
});
