import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseBytea,
  parseDate,
  parserFor,
  parseTime,
  parseTimestamp,
  parseTimestamptz,
  parseTimetz,
} from '../../../workers/backfill/postgres/values.js';
import { zonedTimestamp } from '../../../workers/decode/logical.js';

// Postgres text (session TimeZone=UTC, DateStyle=ISO) → the values the Debezium decoder produces;
// expected numbers are those of the captured fixtures (test/unit/decode/debezium-fixtures.test.ts).
describe('Postgres text values as Debezium values', () => {
  it('date → epoch ms at UTC midnight, also before 1970 and in years 0–99', () => {
    assert.equal(parseDate('2024-01-15'), Date.UTC(2024, 0, 15));
    assert.equal(parseDate('1969-12-31'), -86_400_000);
    assert.equal(parseDate('0050-03-01'), Date.parse('0050-03-01T00:00:00Z'));
    assert.equal(parseDate('infinity'), Number.POSITIVE_INFINITY);
    assert.equal(parseDate('0044-03-15 BC'), '0044-03-15 BC', 'unreadable values stay text');
  });

  it('time → ms of day with µs as a fraction (MicroTime / 1000)', () => {
    assert.equal(parseTime('13:45:30.123456'), 49_530_123.456);
    assert.equal(parseTime('13:45:30.123'), 49_530_123);
    assert.equal(parseTime('23:59:59.999'), 86_399_999);
    assert.equal(parseTime('00:00:00'), 0);
    assert.equal(parseTime('24:00:00'), 86_400_000);
  });

  it('timetz → ms of day in UTC', () => {
    assert.equal(parseTimetz('13:45:30+02'), (11 * 3600 + 45 * 60 + 30) * 1000);
  });

  it('timestamp → epoch ms with µs as a fraction (MicroTimestamp / 1000)', () => {
    assert.equal(parseTimestamp('2024-01-15 13:45:30.123456'), 1_705_326_330_123.456);
    assert.equal(parseTimestamp('2024-01-15 13:45:30.123'), 1_705_326_330_123);
    assert.equal(parseTimestamp('1960-06-01 00:00:00.000001'), -302_486_399_999.999);
    assert.equal(parseTimestamp('1960-06-01 00:00:00.5'), -302_486_399_500);
  });

  it('timestamptz → epoch ms as ZonedTimestamp decodes it', () => {
    assert.equal(parseTimestamptz('2024-01-15 11:45:30.123456+00'), 1_705_319_130_123.456);
    assert.equal(parseTimestamptz('2024-07-01 00:00:00+00'), Date.UTC(2024, 6, 1));
    assert.equal(parseTimestamptz('2024-07-01 02:00:00+02'), Date.UTC(2024, 6, 1));
    assert.equal(parseTimestamptz('-infinity'), Number.NEGATIVE_INFINITY);
  });

  it('timestamptz in UTC (the fast path) → exactly what ZonedTimestamp gives for the same instant with an offset', () => {
    const texts = ['0001-01-01 00:00:00+00', '0099-12-31 23:59:59.999999+00', '1969-12-31 23:59:59.5+00'];
    for (let i = 0; i < 2000; i++) {
      const ms = Math.floor((i * 7_919_993_731_123) % 4_102_444_800_000) - 1_000_000_000_000;
      const us = String((i * 7919) % 1_000_000)
        .padStart(6, '0')
        .replace(/0+$/, '');
      const iso = new Date(ms).toISOString();
      texts.push(`${iso.slice(0, 10)} ${iso.slice(11, 19)}${us === '' ? '' : `.${us}`}+00`);
    }
    for (const t of texts) {
      const withOffset = `${t.slice(0, 10)}T${t.slice(11, -3)}+00:00`;
      assert.equal(parseTimestamptz(t), zonedTimestamp(withOffset), t);
    }
    assert.equal(parseTimestamptz('0044-03-15 12:00:00+00 BC'), '0044-03-15 12:00:00+00 BC');
  });

  it('bytea → base64 (what JsonConverter emits)', () => {
    assert.equal(parseBytea('\\xdeadbeef'), Buffer.from('deadbeef', 'hex').toString('base64'));
  });

  it('int8 and numeric → number; arrays element by element; json parsed; others as pg parses them', () => {
    // int64 exact (core/int64.ts): a number while safe, a bigint beyond 2^53 − 1.
    assert.equal(parserFor(20)('9007199254740991'), 9007199254740991);
    assert.equal(parserFor(20)('9007199254740993'), 9007199254740993n);
    assert.equal(parserFor(20)('9223372036854775807'), 9223372036854775807n);
    assert.equal(parserFor(20)('-9223372036854775808'), -9223372036854775808n);
    assert.equal(parserFor(20)('-42'), -42);
    // Integral NUMERIC text is exact too (Debezium's scale-0 decimals are); fractions are doubles.
    assert.equal(parserFor(1700)('123456789012345678901234567890'), 123456789012345678901234567890n);
    assert.equal(parserFor(1700)('12345'), 12345);
    assert.ok(Number.isNaN(parserFor(1700)('NaN')));
    assert.deepEqual(parserFor(1016)('{9223372036854775807,1}'), [9223372036854775807n, 1]);
    assert.equal(parserFor(1700)('12345.67'), 12345.67);
    assert.equal(
      parserFor(1700)('-12345678901234567890.123456789'),
      Number('-12345678901234567890.123456789'),
    );
    assert.deepEqual(parserFor(1016)('{1,NULL,3}'), [1, null, 3]);
    assert.deepEqual(parserFor(1182)('{2024-01-15,1969-12-31}'), [Date.UTC(2024, 0, 15), -86_400_000]);
    assert.deepEqual(parserFor(3802)('{"plan": "pro", "seats": [1, 2]}'), { plan: 'pro', seats: [1, 2] });
    assert.deepEqual(parserFor(1009)('{a,b}'), ['a', 'b']);
    assert.equal(parserFor(23)('42'), 42);
    assert.equal(parserFor(16)('t'), true);
    assert.equal(
      parserFor(2950)('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    );
  });
});
