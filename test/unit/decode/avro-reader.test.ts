import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro from 'avsc';
import { AvroReadError, compileAvroReader } from '../../../workers/decode/avro-reader.js';
import { makePlaceholder, UNAVAILABLE } from '../../../workers/decode/unavailable.js';

/** Avro long (zigzag varint) of any 64-bit value. */
function zigzag(v: bigint): Buffer {
  let u = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  const out: number[] = [];
  do {
    let b = Number(u & 0x7fn);
    u >>= 7n;
    if (u > 0n) b |= 0x80;
    out.push(b);
  } while (u > 0n);
  return Buffer.from(out);
}

const read = (schema: unknown, buf: Buffer) =>
  compileAvroReader(schema, { state: { unavailable: false } })(buf, 0);

describe('Avro reader', () => {
  it('reads what avsc writes, into plain objects with unions unwrapped', () => {
    const schema = {
      type: 'record',
      name: 'R',
      namespace: 'ns',
      fields: [
        { name: 'i', type: 'int' },
        { name: 'l', type: 'long' },
        { name: 'f', type: 'float' },
        { name: 'd', type: 'double' },
        { name: 'b', type: 'boolean' },
        { name: 's', type: ['null', 'string'] },
        { name: 'n', type: ['null', 'string'] },
        { name: 'e', type: { type: 'enum', name: 'E', symbols: ['A', 'B'] } },
        { name: 'arr', type: { type: 'array', items: 'long' } },
        { name: 'm', type: { type: 'map', values: 'int' } },
        { name: 'fx', type: { type: 'fixed', name: 'F', size: 2 } },
        { name: 'u', type: ['null', 'int', 'string'] },
        { name: 'inner', type: { type: 'record', name: 'In', fields: [{ name: 'x', type: 'E' }] } },
        { name: 'again', type: 'ns.In' },
      ],
    };
    const value = {
      i: -123456,
      l: 2 ** 40 + 3,
      f: 1.5,
      d: Math.PI,
      b: true,
      s: 'héllo',
      n: null,
      e: 'B',
      arr: [1, -2, 3000000000],
      m: { a: 1, __proto__x: 2 },
      fx: Buffer.from([1, 2]),
      u: 'x',
      inner: { x: 'A' },
      again: { x: 'B' },
    };
    const type = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: 'auto' });
    const got = read(schema, type.toBuffer(value));
    assert.deepStrictEqual(got, {
      ...value,
      m: { a: 1, __proto__x: 2 },
      fx: 'AQI=',
    });
    assert.equal(Object.getPrototypeOf(got), Object.prototype);
  });

  it('reads longs beyond 2^53 exactly, as bigints, and every other long as a number', () => {
    for (const v of [
      1795531035497063000n,
      -1795531035497063123n,
      9223372036854775807n,
      -9223372036854775808n,
      2n ** 53n,
      -(2n ** 53n),
      2n ** 53n + 1n,
      2n ** 62n + 12345n,
    ]) {
      assert.equal(read('long', zigzag(v)), v, String(v));
    }
    for (const v of [
      0n,
      -1n,
      1n,
      63n,
      -64n,
      2n ** 27n,
      -(2n ** 27n) - 1n,
      2n ** 31n,
      2n ** 52n - 1n,
      2n ** 53n - 1n,
      -(2n ** 53n) + 1n,
      1705326330123456n,
    ]) {
      assert.equal(read('long', zigzag(v)), Number(v), String(v));
    }
  });

  it('converts Connect logical types while reading', () => {
    const schema = {
      type: 'record',
      name: 'V',
      fields: [
        {
          name: 'dec',
          type: {
            type: 'bytes',
            logicalType: 'decimal',
            precision: 12,
            scale: 2,
            'connect.name': 'org.apache.kafka.connect.data.Decimal',
          },
        },
        { name: 'fdec', type: { type: 'fixed', name: 'FD', size: 3, logicalType: 'decimal', scale: 1 } },
        { name: 'day', type: { type: 'int', 'connect.name': 'io.debezium.time.Date' } },
        { name: 'ts', type: { type: 'long', logicalType: 'timestamp-micros' } },
        { name: 'json', type: { type: 'string', 'connect.name': 'io.debezium.data.Json' } },
      ],
    };
    const type = avro.Type.forSchema(schema as avro.Schema);
    const buf = type.toBuffer({
      dec: Buffer.from([0xcf, 0xc7]),
      fdec: Buffer.from([0, 0, 0x0f]),
      day: 2,
      ts: 1500,
      json: '{"a":1}',
    });
    assert.deepStrictEqual(read(schema, buf), {
      dec: -123.45,
      fdec: 1.5,
      day: 172_800_000,
      ts: 1.5,
      json: { a: 1 },
    });
  });

  it('reads strings of every length around its short-string paths, ASCII or not at any position', () => {
    const schema = { type: 'record', name: 'S', fields: [{ name: 's', type: 'string' }] };
    const type = avro.Type.forSchema(schema as avro.schema.RecordType);
    for (let n = 0; n <= 40; n++) {
      const ascii = Array.from({ length: n }, (_, i) => String.fromCharCode(0x20 + ((i * 7) % 95))).join('');
      const variants = [ascii, `\u0000${ascii}\u007f`];
      // A non-ASCII character first, in the middle, last: each string must leave the ASCII path.
      if (n > 0)
        for (const at of [0, n >> 1, n - 1]) variants.push(`${ascii.slice(0, at)}é${ascii.slice(at + 1)}`);
      if (n > 1) variants.push(`${ascii.slice(0, n - 2)}😀`);
      for (const v of variants) {
        assert.deepEqual(
          read(schema, type.toBuffer({ s: v })),
          { s: v },
          `length ${n}: ${JSON.stringify(v)}`,
        );
      }
    }
  });

  it('marks the unavailable-value placeholder in string, bytes and array fields', () => {
    const schema = {
      type: 'record',
      name: 'V',
      fields: [
        { name: 's', type: ['null', 'string'] },
        { name: 'b', type: ['null', 'bytes'] },
        { name: 'a', type: ['null', { type: 'array', items: ['null', 'string'] }] },
        { name: 'j', type: ['null', { type: 'string', 'connect.name': 'io.debezium.data.Json' }] },
        { name: 'keep', type: { type: 'array', items: 'string' } },
      ],
    };
    const p = makePlaceholder();
    const type = avro.Type.forSchema(schema as avro.Schema);
    const buf = type.toBuffer({ s: p.text, b: p.bytes, a: [p.text], j: p.text, keep: [p.text, 'x'] });
    const state = { unavailable: false };
    const got = compileAvroReader(schema, { placeholder: p, state })(buf, 0);
    assert.deepStrictEqual(got, {
      s: UNAVAILABLE,
      b: UNAVAILABLE,
      a: UNAVAILABLE,
      j: UNAVAILABLE,
      keep: [p.text, 'x'],
    });
    assert.equal(state.unavailable, true);
  });

  it('rejects malformed bytes with AvroReadError', () => {
    const schema = {
      type: 'record',
      name: 'R',
      fields: [
        { name: 's', type: 'string' },
        { name: 'u', type: ['null', 'int'] },
      ],
    };
    const good = avro.Type.forSchema(schema as avro.Schema).toBuffer({ s: 'abc', u: 5 });
    assert.throws(() => read(schema, good.subarray(0, good.length - 1)), AvroReadError);
    assert.throws(() => read(schema, Buffer.concat([good, Buffer.from([0])])), /trailing/);
    assert.throws(() => read(schema, Buffer.from([0x7e])), /length/);
    assert.throws(() => read(schema, Buffer.from([0x02, 0x61, 0x08])), /union index 4/);
    assert.throws(() => read('boolean', Buffer.from([7])), AvroReadError);
    assert.throws(
      () => read({ type: 'array', items: 'int' }, Buffer.from([0xfe, 0xff, 0xff, 0x0f])),
      /block count/,
    );
    assert.throws(
      () => read('long', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
      /10 bytes/,
    );
  });

  it('rejects schemas that refer to unknown types', () => {
    assert.throws(
      () => read({ type: 'record', name: 'R', fields: [{ name: 'x', type: 'Nope' }] }, Buffer.alloc(0)),
      /unknown type/,
    );
  });
});
