import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJsonExact } from '../../../workers/decode/exact-json.js';

/** JSON text of a value whose bigints are written as their digits (what JsonConverter emits for int64). */
function text(v: unknown, space = ''): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `<big>${x}` : x), space).replace(
    /"<big>(-?\d+)"/g,
    '$1',
  );
}

const MIN = -(2n ** 63n);
const MAX = 2n ** 63n - 1n;

describe('exact JSON integers', () => {
  it('reads int64 literals beyond 2^53 as bigints and safe ones as numbers', () => {
    const v = {
      min: MIN,
      max: MAX,
      above: 2n ** 53n,
      below: -(2n ** 53n),
      safe: 9007199254740991,
      negSafe: -9007199254740991,
      ts_ns: 1795531035497063000n,
      list: [MAX, 1, MIN, [2n ** 60n]],
      nested: { a: { b: 12345678901234567890n } },
      __proto__x: 1,
    };
    assert.deepEqual(parseJsonExact(text(v)), v);
    assert.deepEqual(parseJsonExact(text(v, '  ')), v);
    assert.equal(parseJsonExact('-9223372036854775808'), MIN);
    assert.equal(parseJsonExact('[9223372036854775807]')?.toString(), MAX.toString());
  });

  it('leaves fractions, exponents and digits inside strings alone', () => {
    const v = {
      f: 1234567.5,
      e: 1.5e25,
      s: '{"id":12345678901234567890,"x":[12345678901234567890]}',
      quoted: 'a\\":12345678901234567890,"b',
      marker: '\u000112345678901234567890',
      hex: 'c4ca4238a0b923820dcc509a6f75849bc81e728d9d4c2f636f067f89cc14862c',
      id: 12345678901234567890n,
    };
    const got = parseJsonExact(text(v)) as typeof v;
    assert.deepEqual(got, v);
    const raw = parseJsonExact(
      '{"f":12345678901234567890.5,"g":-12345678901234567890e2,"h":1E+25}',
    ) as object;
    assert.deepEqual(raw, {
      f: Number('12345678901234567890.5'),
      g: Number('-12345678901234567890e2'),
      h: 1e25,
    });
    // Digit runs at every alignment inside strings, with a real big integer after them.
    for (let pad = 0; pad < 20; pad++) {
      const w = { s: `${'x'.repeat(pad)}:${'9'.repeat(17 + pad)},`, n: MAX, k: [`,${'1'.repeat(30)}`] };
      assert.deepEqual(parseJsonExact(text(w)), w, `pad ${pad}`);
    }
  });

  it('parses a text with no long digit run exactly like JSON.parse', () => {
    const t = '{"a":1,"b":[1.5,-2,"x"],"c":null,"d":true,"e":1e300}';
    assert.deepEqual(parseJsonExact(t), JSON.parse(t));
  });

  it('rejects invalid JSON as JSON.parse does', () => {
    assert.throws(() => parseJsonExact('{"a":12345678901234567890'), SyntaxError);
    assert.throws(() => parseJsonExact('{"a":}'), SyntaxError);
  });

  it('agrees with a reference on random documents', () => {
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const bigAt = () =>
      BigInt.asIntN(
        64,
        BigInt(Math.floor(rnd() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(rnd() * 2 ** 32)),
      );
    const scalar = (): unknown => {
      const r = rnd();
      if (r < 0.3) {
        const b = bigAt();
        return b >= -(2n ** 53n) + 1n && b <= 2n ** 53n - 1n ? Number(b) : b;
      }
      if (r < 0.5) return `${Math.floor(rnd() * 1e9)}${'7'.repeat(Math.floor(rnd() * 30))}":,[\\"`;
      if (r < 0.6) return rnd() * 1e5; // a double ≥ 2^53 stringifies as integer digits: an int64 then
      if (r < 0.7) return null;
      return Math.floor(rnd() * 1e6);
    };
    const doc = (depth: number): unknown => {
      if (depth === 0 || rnd() < 0.3) return scalar();
      if (rnd() < 0.5) return Array.from({ length: Math.floor(rnd() * 5) }, () => doc(depth - 1));
      const o: Record<string, unknown> = {};
      for (let i = 0; i < rnd() * 6; i++) o[`k${i}`] = doc(depth - 1);
      return o;
    };
    for (let i = 0; i < 500; i++) {
      const v = doc(4);
      assert.deepEqual(parseJsonExact(text(v)), v, text(v));
    }
  });
});
