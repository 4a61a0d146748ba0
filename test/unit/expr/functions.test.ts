import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExprRuntimeError, FUNCTIONS, type Row } from '../../../workers/expr/index.js';
import { compiled, NOW, schema } from './helpers.js';

/** [expression, row, expected value] or [expression, row, { throws: detail }]. */
type Case = [string, Row, unknown];
const throws = (detail: string) => ({ throws: detail });

const fieldTypes = schema({ t: 'timestamp', u: 'timestamp' });

function check(cases: readonly Case[]): void {
  for (const [source, row, expected] of cases) {
    it(`${source} on ${JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`, () => {
      const c = compiled(source, { fieldTypes });
      if (typeof expected === 'object' && expected !== null && 'throws' in expected) {
        assert.throws(
          () => c.evaluate(row),
          (err: unknown) => err instanceof ExprRuntimeError && err.detail === expected.throws,
        );
      } else {
        assert.deepEqual(c.evaluate(row), expected);
      }
    });
  }
}

const TESTED = new Set<string>();
function fn(name: string, cases: readonly Case[]): void {
  TESTED.add(name);
  describe(name, () => check(cases));
}

describe('math', () => {
  fn('abs', [
    ['abs(x)', { x: -2.5 }, 2.5],
    ['abs(x)', { x: 3 }, 3],
    ['abs(x)', { x: null }, null],
    ['abs(x)', {}, null],
    ['abs(x)', { x: '3' }, throws("abs expects number for argument 1, got string '3'")],
  ]);
  fn('sqrt', [
    ['sqrt(x)', { x: 2.25 }, 1.5],
    ['sqrt(x)', { x: 0 }, 0],
    ['sqrt(x)', { x: -1 }, null],
    ['sqrt(x)', { x: null }, null],
  ]);
  fn('log', [
    ['log(x)', { x: Math.E }, 1],
    ['log(x)', { x: 0 }, null],
    ['log(x)', { x: -3 }, null],
    ['log(x)', { x: null }, null],
  ]);
  fn('log1p', [
    ['log1p(x)', { x: 9 }, Math.log(10)],
    ['log1p(x)', { x: 1e-20 }, 1e-20],
    ['log1p(x)', { x: -1 }, null],
    ['log1p(x)', { x: -2 }, null],
    ['log1p(x)', { x: null }, null],
    ['log1p(x)', { x: true }, throws('log1p expects number for argument 1, got bool true')],
  ]);
  fn('exp', [
    ['exp(x)', { x: 1 }, Math.E],
    ['exp(x)', { x: 1000 }, null],
    ['exp(x)', { x: -1000 }, 0],
    ['exp(x)', { x: null }, null],
  ]);
  fn('pow', [
    ['pow(x, y)', { x: 2, y: -1 }, 0.5],
    ['pow(x, y)', { x: 9, y: 0.5 }, 3],
    ['pow(x, y)', { x: -8, y: 1 / 3 }, null],
    ['pow(x, y)', { x: 10, y: 400 }, null],
    ['pow(x, y)', { x: null, y: 2 }, null],
    ['pow(x, y)', { x: 2, y: null }, null],
    ['pow(x, y)', { x: 2, y: 'a' }, throws("pow expects number for argument 2, got string 'a'")],
  ]);
  fn('sigmoid', [
    ['sigmoid(x)', { x: 0 }, 0.5],
    ['sigmoid(x)', { x: 2 }, 1 / (1 + Math.exp(-2))],
    ['sigmoid(x)', { x: -1000 }, 0],
    ['sigmoid(x)', { x: 1000 }, 1],
    ['sigmoid(x)', { x: null }, null],
  ]);
  fn('min', [
    ['min(x, y)', { x: 2, y: -1 }, -1],
    ['min(x, 5, y, 0.5)', { x: 2, y: 1 }, 0.5],
    ['min(x, y)', { x: null, y: 1 }, null],
    ['min(x, y)', { x: 1, y: null }, null],
    ['min(x, y)', { x: 1, y: 'b' }, throws("min expects number for argument 2, got string 'b'")],
  ]);
  fn('max', [
    ['max(x, y)', { x: 2, y: -1 }, 2],
    ['max(x, 5, y)', { x: 2, y: 1 }, 5],
    ['max(x, y)', { x: null, y: 1 }, null],
  ]);
  fn('clamp', [
    ['clamp(x, 0, 100)', { x: 150 }, 100],
    ['clamp(x, 0, 100)', { x: -5 }, 0],
    ['clamp(x, 0, 100)', { x: 42.5 }, 42.5],
    ['clamp(x, lo, hi)', { x: 5, lo: 10, hi: 0 }, 10],
    ['clamp(x, 0, 100)', { x: null }, null],
    ['clamp(x, lo, 100)', { x: 5, lo: null }, null],
    ['clamp(x, 0, 100)', { x: '5' }, throws("clamp expects number for argument 1, got string '5'")],
  ]);
  fn('round', [
    ['round(x)', { x: 2.5 }, 3],
    ['round(x)', { x: -2.5 }, -3],
    ['round(x)', { x: 2.4 }, 2],
    ['round(x)', { x: -0.4 }, 0],
    ['round(x, 2)', { x: 1.23656 }, 1.24],
    ['round(x, 1)', { x: -1.25 }, -1.3],
    ['round(x, -2)', { x: 1234 }, 1200],
    ['round(x, d)', { x: 1.5, d: null }, null],
    ['round(x)', { x: null }, null],
  ]);
  fn('floor', [
    ['floor(x)', { x: 1.9 }, 1],
    ['floor(x)', { x: -1.1 }, -2],
    ['floor(x)', { x: null }, null],
  ]);
  fn('ceil', [
    ['ceil(x)', { x: 1.1 }, 2],
    ['ceil(x)', { x: -1.9 }, -1],
    ['ceil(x)', { x: null }, null],
  ]);
});

describe('nulls', () => {
  fn('coalesce', [
    ['coalesce(x, 0)', { x: 5 }, 5],
    ['coalesce(x, 0)', { x: null }, 0],
    ['coalesce(x, 0)', {}, 0],
    ['coalesce(x, 0)', { x: 0 }, 0],
    ["coalesce(x, '')", { x: '' }, ''],
    ['coalesce(x, y, 3)', { x: null, y: 2 }, 2],
    ['coalesce(x, y, 3)', { x: null, y: null }, 3],
    ['coalesce(x, y)', {}, null],
    ['coalesce(x, y * 2)', { x: 1, y: 'never evaluated' }, 1],
  ]);
  fn('if_null', [
    ['if_null(x, -1)', { x: null }, -1],
    ['if_null(x, -1)', { x: 7 }, 7],
    ['if_null(x, false)', { x: true }, true],
  ]);
  fn('is_null', [
    ['is_null(x)', { x: null }, true],
    ['is_null(x)', {}, true],
    ['is_null(x)', { x: 0 }, false],
    ['is_null(x)', { x: '' }, false],
    ['is_null(after.x)', { after: null }, true],
  ]);
});

describe('strings and conversions', () => {
  fn('lower', [
    ['lower(s)', { s: 'ÀBC' }, 'àbc'],
    ['lower(s)', { s: null }, null],
    ['lower(s)', { s: 1 }, throws('lower expects string for argument 1, got number 1')],
  ]);
  fn('upper', [
    ['upper(s)', { s: 'straße' }, 'STRASSE'],
    ['upper(s)', { s: null }, null],
  ]);
  fn('trim', [
    ['trim(s)', { s: '\t a \n' }, 'a'],
    ['trim(s)', { s: '' }, ''],
    ['trim(s)', { s: null }, null],
  ]);
  fn('len', [
    ['len(s)', { s: 'abc' }, 3],
    ['len(s)', { s: '' }, 0],
    ['len(s)', { s: 'a😀b' }, 3],
    ['len(s)', { s: '\ud800x' }, 2],
    ['len(s)', { s: null }, null],
    ['len(s)', { s: ['a'] }, throws('len expects string for argument 1, got list of 1')],
  ]);
  fn('contains', [
    ["contains(s, 'pro')", { s: 'enterprise' }, false],
    ["contains(s, 'pri')", { s: 'enterprise' }, true],
    ["contains(s, '')", { s: 'x' }, true],
    ["contains(s, 'a')", { s: null }, null],
    ['contains(s, p)', { s: 'a', p: null }, null],
  ]);
  fn('starts_with', [
    ["starts_with(s, 'ent')", { s: 'enterprise' }, true],
    ["starts_with(s, 'Ent')", { s: 'enterprise' }, false],
    ["starts_with(s, 'x')", { s: null }, null],
  ]);
  fn('ends_with', [
    ["ends_with(s, '.com')", { s: 'a@b.com' }, true],
    ["ends_with(s, '.org')", { s: 'a@b.com' }, false],
    ["ends_with(s, 'x')", {}, null],
  ]);
  fn('concat', [
    ["concat(a, '-', b)", { a: 'x', b: 2 }, 'x-2'],
    ['concat(a, b)', { a: true, b: 0.5 }, 'true0.5'],
    ['concat(a, b)', { a: 'x', b: null }, null],
    [
      'concat(a, b)',
      { a: 'x', b: { k: 1 } },
      throws('concat expects a string, number, bool or timestamp for argument 2, got object'),
    ],
  ]);
  fn('to_string', [
    ['to_string(x)', { x: 3 }, '3'],
    ['to_string(x)', { x: 3.0 }, '3'],
    ['to_string(x)', { x: 1e21 }, '1e+21'],
    ['to_string(x)', { x: false }, 'false'],
    ['to_string(x)', { x: 12n }, '12'],
    ['to_string(x)', { x: new Date(Date.UTC(2024, 0, 2)) }, '2024-01-02T00:00:00.000Z'],
    ['to_string(x)', { x: 'a' }, 'a'],
    ['to_string(x)', { x: null }, null],
  ]);
  fn('to_number', [
    ['to_number(x)', { x: '42' }, 42],
    ['to_number(x)', { x: ' -1.5e3 ' }, -1500],
    ['to_number(x)', { x: '.5' }, 0.5],
    ['to_number(x)', { x: 'abc' }, null],
    ['to_number(x)', { x: '' }, null],
    ['to_number(x)', { x: '0x10' }, null],
    ['to_number(x)', { x: 'Infinity' }, null],
    ['to_number(x)', { x: true }, 1],
    ['to_number(x)', { x: false }, 0],
    ['to_number(x)', { x: 7 }, 7],
    ['to_number(x)', { x: Number.NaN }, null],
    ['to_number(x)', { x: 5n }, 5],
    ['to_number(x)', { x: new Date(99) }, 99],
    ['to_number(x)', { x: null }, null],
    ['to_number(x)', { x: [1] }, null],
  ]);
});

describe('time', () => {
  fn('now', [
    ['now()', {}, NOW],
    ['days_between(t, now())', { t: '2024-03-14T12:00:00Z' }, 1],
  ]);
  fn('epoch_ms', [
    ['epoch_ms(t)', { t: 1234 }, 1234],
    ['epoch_ms(t)', { t: new Date(5678) }, 5678],
    ['epoch_ms(t)', { t: '1970-01-01T00:00:01.5Z' }, 1500],
    ['epoch_ms(t)', { t: '1970-01-01T01:00:00+01:00' }, 0],
    ['epoch_ms(t)', { t: '1969-12-31' }, -86_400_000],
    ['epoch_ms(t)', { t: null }, null],
    [
      'epoch_ms(t)',
      { t: 'tomorrow' },
      throws(
        "epoch_ms expects a timestamp (epoch ms, Date or ISO-8601 string) for argument 1, got string 'tomorrow'",
      ),
    ],
    [
      'epoch_ms(t)',
      { t: new Date(Number.NaN) },
      throws(
        'epoch_ms expects a timestamp (epoch ms, Date or ISO-8601 string) for argument 1, got invalid Date',
      ),
    ],
    [
      'epoch_ms(t)',
      { t: true },
      throws(
        'epoch_ms expects a timestamp (epoch ms, Date or ISO-8601 string) for argument 1, got bool true',
      ),
    ],
  ]);
  fn('year', [
    ['year(t)', { t: '2024-12-31T23:59:59.999Z' }, 2024],
    ['year(t)', { t: '2024-12-31T23:00:00-01:00' }, 2025],
    ['year(t)', { t: -1 }, 1969],
    ['year(t)', { t: '1600-02-29' }, 1600],
    ['year(t)', { t: null }, null],
  ]);
  fn('month', [
    ['month(t)', { t: '2024-01-31T23:59:59Z' }, 1],
    ['month(t)', { t: '2024-02-29' }, 2],
    ['month(t)', { t: '2023-12-01' }, 12],
    ['month(t)', { t: new Date(Date.UTC(2000, 2, 1)) }, 3],
    ['month(t)', { t: null }, null],
  ]);
  fn('day_of_month', [
    ['day_of_month(t)', { t: '2024-02-29T10:00:00Z' }, 29],
    ['day_of_month(t)', { t: '2024-03-01T00:00:00+01:00' }, 29],
    ['day_of_month(t)', { t: 0 }, 1],
    ['day_of_month(t)', { t: null }, null],
  ]);
  fn('day_of_week', [
    ['day_of_week(t)', { t: '1970-01-01' }, 4],
    ['day_of_week(t)', { t: '2024-03-17' }, 7],
    ['day_of_week(t)', { t: '2024-03-18' }, 1],
    ['day_of_week(t)', { t: '1969-12-29' }, 1],
    ['day_of_week(t)', { t: null }, null],
  ]);
  fn('hour', [
    ['hour(t)', { t: '2024-03-15T23:59:59Z' }, 23],
    ['hour(t)', { t: '2024-03-15T00:30:00+05:30' }, 19],
    ['hour(t)', { t: -1 }, 23],
    ['hour(t)', { t: null }, null],
  ]);
  fn('days_between', [
    ['days_between(t, u)', { t: '2024-01-01', u: '2024-01-31' }, 30],
    ['days_between(t, u)', { t: '2024-01-31', u: '2024-01-01' }, -30],
    ['days_between(t, u)', { t: 0, u: 43_200_000 }, 0.5],
    ['days_between(t, u)', { t: null, u: 0 }, null],
    ['days_between(t, u)', { t: 0, u: null }, null],
  ]);
  fn('months_between', [
    ['months_between(t, u)', { t: 0, u: 30.436875 * 86_400_000 }, 1],
    ['months_between(t, u)', { t: '2000-01-01', u: '2010-01-01' }, 120.01889155834822],
    ['months_between(t, u)', { t: '2024-02-01', u: '2024-01-01' }, -1.0185014065997249],
    ['months_between(t, u)', { t: null, u: 0 }, null],
  ]);
});

describe('categorical', () => {
  fn('bucket', [
    ['bucket(x, [18, 30, 45, 65])', { x: 17 }, 0],
    ['bucket(x, [18, 30, 45, 65])', { x: 18 }, 1],
    ['bucket(x, [18, 30, 45, 65])', { x: 44.9 }, 2],
    ['bucket(x, [18, 30, 45, 65])', { x: 65 }, 4],
    ['bucket(x, [18, 30, 45, 65])', { x: 1e9 }, 4],
    ['bucket(x, [-1, 0, 1.5])', { x: -0.5 }, 1],
    ['bucket(x, [18, 30])', { x: null }, null],
    ['bucket(x, [18, 30])', { x: Number.NaN }, null],
    ['bucket(x, [18, 30])', { x: '20' }, throws("bucket expects number for argument 1, got string '20'")],
  ]);
  fn('one_hot', [
    ["one_hot(x, ['basic', 'pro', 'enterprise'])", { x: 'enterprise' }, [0, 0, 1]],
    ["one_hot(x, ['basic', 'pro', 'enterprise'])", { x: 'basic' }, [1, 0, 0]],
    ["one_hot(x, ['basic', 'pro', 'enterprise'])", { x: 'Pro' }, [0, 0, 0]],
    ["one_hot(x, ['basic', 'pro', 'enterprise'])", { x: null }, [0, 0, 0]],
    ["one_hot(x, ['basic', 'pro'])", {}, [0, 0]],
    ["one_hot(x, ['1', '2'])", { x: 2 }, throws('one_hot expects string for argument 1, got number 2')],
  ]);
  fn('hash_bucket', [
    ['hash_bucket(x, 32)', { x: 'US' }, 25],
    ['hash_bucket(x, 32)', { x: 'DE' }, 2],
    ['hash_bucket(x, 4294967296)', { x: 'foobar' }, 0xbf9cf968],
    ['hash_bucket(x, 4294967296)', { x: '' }, 0x811c9dc5],
    ['hash_bucket(x, 1000)', { x: 42 }, (run42() as number) % 1000],
    ['hash_bucket(x, 7)', { x: true }, 0x4db211e5 % 7],
    ['hash_bucket(x, 32)', { x: null }, null],
    [
      'hash_bucket(x, 32)',
      { x: {} },
      throws('hash_bucket expects a string, number, bool or timestamp for argument 1, got object'),
    ],
  ]);
});

/** hash_bucket of the number 42 equals that of the text '42'. */
function run42(): unknown {
  return compiled("hash_bucket('42', 4294967296)").evaluate({});
}

describe('library coverage', () => {
  it('tests every documented function', () => {
    assert.deepEqual(
      FUNCTIONS.map((f) => f.name).filter((n) => !TESTED.has(n)),
      [],
    );
  });
});
