import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bucketIndex, DAYS_PER_MONTH, fnv1a32, parseTimestamp } from '../../../workers/expr/index.js';

describe('parseTimestamp (ISO-8601)', () => {
  const valid: [string, number][] = [
    ['2024-03-15', Date.UTC(2024, 2, 15)],
    ['2024-03-15T12:34', Date.UTC(2024, 2, 15, 12, 34)],
    ['2024-03-15T12:34:56', Date.UTC(2024, 2, 15, 12, 34, 56)],
    ['2024-03-15 12:34:56Z', Date.UTC(2024, 2, 15, 12, 34, 56)],
    ['2024-03-15t12:34:56z', Date.UTC(2024, 2, 15, 12, 34, 56)],
    ['2024-03-15T12:34:56.7Z', Date.UTC(2024, 2, 15, 12, 34, 56, 700)],
    ['2024-03-15T12:34:56.123456789Z', Date.UTC(2024, 2, 15, 12, 34, 56, 123)],
    ['2024-03-15T12:34:56,5Z', Date.UTC(2024, 2, 15, 12, 34, 56, 500)],
    ['2024-03-15T12:00:00+02:00', Date.UTC(2024, 2, 15, 10)],
    ['2024-03-15T12:00:00-0530', Date.UTC(2024, 2, 15, 17, 30)],
    ['2024-03-15T12:00:00+01', Date.UTC(2024, 2, 15, 11)],
    ['  2024-03-15T12:00:00Z ', Date.UTC(2024, 2, 15, 12)],
    ['2000-02-29', Date.UTC(2000, 1, 29)],
    ['0001-01-01', Date.UTC(2001, 0, 1) - 2000 * 365.2425 * 86_400_000],
    ['1969-12-31T23:59:59.999Z', -1],
    ['+010000-01-01', 253402300800000],
    ['-000001-12-31', -62167305600000],
  ];
  for (const [text, ms] of valid)
    it(`${JSON.stringify(text)} → ${ms}`, () => assert.equal(parseTimestamp(text), ms));

  const invalid = [
    '',
    '2024',
    '2024-3-15',
    '2024-00-10',
    '2024-13-01',
    '2023-02-29',
    '1900-02-29',
    '2024-04-31',
    '2024-03-15T24:00',
    '2024-03-15T12:60',
    '2024-03-15T12:00:60',
    '2024-03-15T12:00:00+24:00',
    '2024-03-15T12',
    '15/03/2024',
    'March 15, 2024',
    '1710504000000',
  ];
  for (const text of invalid)
    it(`rejects ${JSON.stringify(text)}`, () => assert.equal(parseTimestamp(text), undefined));
});

describe('fnv1a32', () => {
  // Published FNV-1a 32-bit test vectors, and UTF-8 encodings of non-ASCII text.
  const vectors: [string, number][] = [
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
    ['héllo', 0x4aa48540],
    ['😀', 0x33a29608],
  ];
  for (const [text, hash] of vectors) it(JSON.stringify(text), () => assert.equal(fnv1a32(text), hash));

  it('hashes the UTF-8 bytes TextEncoder produces, lone surrogates as U+FFFD', () => {
    for (const text of ['ascii', 'ß€𝄞', '\ud800', 'a\udc00b', '\ud83d\ude00\ud83d']) {
      let h = 0x811c9dc5;
      for (const b of new TextEncoder().encode(text)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
      assert.equal(fnv1a32(text), h, JSON.stringify(text));
    }
  });
});

describe('bucketIndex', () => {
  const bounds = [18, 30, 45, 65];
  const cases: [number, number][] = [
    [Number.NEGATIVE_INFINITY, 0],
    [17.999, 0],
    [18, 1],
    [29, 1],
    [30, 2],
    [64, 3],
    [65, 4],
    [Number.POSITIVE_INFINITY, 4],
  ];
  for (const [x, i] of cases) it(`${x} → ${i}`, () => assert.equal(bucketIndex(x, bounds), i));

  it('works with one boundary', () => {
    assert.deepEqual([bucketIndex(-1, [0]), bucketIndex(0, [0])], [0, 1]);
  });
});

describe('months', () => {
  it('are 365.2425 / 12 days', () => assert.equal(DAYS_PER_MONTH, 365.2425 / 12));
});
