import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decimalFromBytes,
  decimalFromJson,
  logicalLeaf,
  ValueConversionError,
  variableScaleDecimal,
  zonedTime,
  zonedTimestamp,
} from '../../../workers/decode/logical.js';

/** Two's-complement big-endian bytes of an unscaled integer, minimal length. */
function twos(n: bigint): Buffer {
  let bytes = 1;
  while (n < -(2n ** BigInt(8 * bytes - 1)) || n >= 2n ** BigInt(8 * bytes - 1)) bytes++;
  return Buffer.from(
    BigInt.asUintN(8 * bytes, n)
      .toString(16)
      .padStart(2 * bytes, '0'),
    'hex',
  );
}

describe('decimals', () => {
  it("decodes big-endian two's complement with scale to the nearest double", () => {
    assert.equal(decimalFromBytes(Buffer.from([0x30, 0x39]), 2), 123.45);
    assert.equal(decimalFromBytes(Buffer.from([0xcf, 0xc7]), 2), -123.45);
    assert.equal(decimalFromBytes(Buffer.from([0x00]), 2), 0);
    assert.equal(decimalFromBytes(Buffer.alloc(0), 2), 0);
    assert.equal(decimalFromBytes(Buffer.from([0xff]), 0), -1);
    assert.equal(decimalFromBytes(Buffer.from([0x01]), -3), 1000);
  });

  it('matches the decimal string for every width, including beyond 2^53', () => {
    const cases: [bigint, number][] = [
      [1234567890123456789012345678901234567n, 10],
      [-99999999999999999999n, 2],
      [9007199254740993n, 0],
      [-281474976710656n, 6],
      [140737488355327n, 30],
      [1n, 25],
    ];
    for (const [unscaled, scale] of cases) {
      // An integral decimal (scale 0) beyond 2^53 stays exact; any other is the nearest double.
      const expected = scale === 0 && unscaled > 2n ** 53n ? unscaled : Number(`${unscaled}e${-scale}`);
      assert.equal(decimalFromBytes(twos(unscaled), scale), expected, `${unscaled} scale ${scale}`);
    }
  });

  it('reads JsonConverter base64 (standard, unpadded or URL-safe) and NUMERIC numbers', () => {
    assert.equal(decimalFromJson('MDk=', 2), 123.45);
    assert.equal(decimalFromJson('MDk', 2), 123.45);
    assert.equal(decimalFromJson(twos(-5n).toString('base64url'), 1), -0.5);
    assert.equal(decimalFromJson(12.5, 2), 12.5);
    assert.throws(() => decimalFromJson('not base64!', 2), ValueConversionError);
  });

  it('VariableScaleDecimal struct', () => {
    assert.equal(variableScaleDecimal({ scale: 3, value: 'AeJA' }), 123.456);
    assert.equal(variableScaleDecimal({ scale: 0, value: Buffer.from([0x2a]) }), 42);
    assert.throws(() => variableScaleDecimal({ value: 'AeJA' }), ValueConversionError);
  });
});

describe('time types', () => {
  const leaf = (name: string) => logicalLeaf({ name })!;
  it('dates are epoch ms at UTC midnight', () => {
    assert.equal(leaf('io.debezium.time.Date')(19737), Date.UTC(2024, 0, 15));
    assert.equal(leaf('org.apache.kafka.connect.data.Date')(-1), -86_400_000);
    assert.equal(logicalLeaf({ logicalType: 'date' })!(1), 86_400_000);
  });
  it('times are ms of day', () => {
    assert.equal(logicalLeaf({ name: 'io.debezium.time.Time' }), undefined);
    assert.equal(leaf('io.debezium.time.MicroTime')(37_230_123_456), 37_230_123.456);
    assert.equal(leaf('io.debezium.time.NanoTime')(37_230_123_456_789), 37_230_123.456789);
  });
  it('timestamps are epoch ms, fractions kept', () => {
    assert.equal(logicalLeaf({ name: 'io.debezium.time.Timestamp' }), undefined);
    assert.equal(leaf('io.debezium.time.MicroTimestamp')(1_705_314_930_123_456), 1_705_314_930_123.456);
    assert.equal(leaf('io.debezium.time.NanoTimestamp')(1_705_314_930_123_456_000), 1_705_314_930_123.456);
    assert.equal(logicalLeaf({ logicalType: 'timestamp-micros' })!(1_000_500), 1000.5);
  });
  it('ZonedTimestamp keeps sub-millisecond digits and honours offsets', () => {
    assert.equal(zonedTimestamp('2024-01-15T10:15:30Z'), Date.UTC(2024, 0, 15, 10, 15, 30));
    assert.equal(zonedTimestamp('2024-01-15T10:15:30.123456Z'), 1_705_313_730_123_456 / 1000);
    assert.equal(zonedTimestamp('2024-01-15T10:15:30.1Z'), Date.UTC(2024, 0, 15, 10, 15, 30, 100));
    assert.equal(zonedTimestamp('2024-01-15T12:15:30.5+02:00'), Date.UTC(2024, 0, 15, 10, 15, 30, 500));
    assert.equal(zonedTimestamp('2024-01-15T05:15:30-0500'), Date.UTC(2024, 0, 15, 10, 15, 30));
    assert.equal(zonedTimestamp('infinity'), Number.POSITIVE_INFINITY);
    assert.throws(() => zonedTimestamp('yesterday'), ValueConversionError);
  });
  it('ZonedTime is ms of day in UTC', () => {
    assert.equal(zonedTime('10:15:30.25Z'), 36_930_250);
    assert.equal(zonedTime('01:00:00+02:00'), 23 * 3_600_000);
  });
  it('Json is parsed, Uuid stays a string', () => {
    assert.deepEqual(leaf('io.debezium.data.Json')('{"a":[1,2]}'), { a: [1, 2] });
    assert.equal(logicalLeaf({ name: 'io.debezium.data.Uuid' }), undefined);
    assert.throws(() => leaf('io.debezium.data.Json')('{nope'), ValueConversionError);
  });
  it('a Connect name wins over the Avro logicalType', () => {
    assert.equal(
      logicalLeaf({ name: 'io.debezium.time.Timestamp', logicalType: 'timestamp-micros' }),
      undefined,
    );
  });
});

describe('fast paths agree with the general ones', () => {
  it('UTC ZonedTimestamps without a regex', () => {
    for (const s of [
      '2024-01-15T11:45:30Z',
      '2024-01-15T11:45:30.1Z',
      '1960-06-01T00:00:00.000001Z',
      '2024-07-01T00:00:00.000000Z',
      '9999-12-31T23:59:59.999999999Z',
    ]) {
      const [base, frac] = s.slice(0, -1).split('.');
      const expected =
        Date.parse(`${base}Z`) +
        (frac === undefined
          ? 0
          : Number(frac.slice(0, 3).padEnd(3, '0')) + Number(`0.${frac.slice(3) || '0'}`));
      assert.equal(zonedTimestamp(s), expected, s);
    }
    assert.equal(zonedTimestamp('0099-01-01T00:00:00Z'), Date.parse('0099-01-01T00:00:00Z'));
    assert.throws(() => zonedTimestamp('2024-01-15T11:45:30.Z'), ValueConversionError);
  });
  it('decimals up to 2^53 without BigInt, beyond with it', () => {
    for (const v of [
      2n ** 53n,
      -(2n ** 53n),
      2n ** 53n + 1n,
      -(2n ** 53n) - 1n,
      72057594037927935n,
      -72057594037927936n,
    ]) {
      assert.equal(decimalFromBytes(twos(v), 4), Number(`${v}e-4`), String(v));
    }
  });
});
