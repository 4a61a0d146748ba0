/**
 * Table-driven feature definitions over realistic records: a Debezium envelope (streaming), the
 * same row as a plain record (backfill), and a delete. Each case asserts the exact value.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Row } from '../../../workers/expr/index.js';
import { compiled, NOW, schema } from './helpers.js';

const SIGNUP = Date.UTC(2022, 2, 15); // 2022-03-15, epoch ms as the decoder delivers Connect dates
const COMMIT = Date.UTC(2024, 2, 15, 9, 30); // source.ts_ms

const update: Row = {
  op: 'u',
  before: { customer_id: 42, plan: 'pro', tickets_90d: 2 },
  after: {
    customer_id: 42,
    plan: 'enterprise',
    email: 'Ada@Example.COM',
    name: ' Ada Lovelace ',
    country: 'GB',
    age: 36,
    amount: 99,
    tickets_90d: null,
    signup_date: SIGNUP,
    last_login: '2024-03-10T08:00:00+01:00',
    score: 123.456,
    churn_flag: false,
  },
  source: { ts_ms: COMMIT, lsn: 123456 },
  key: { customer_id: 42 },
};

const plain: Row = { customer_id: 7, plan: 'basic', amount: '12.50', age: 17, country: 'FR' };
const deleted: Row = {
  op: 'd',
  before: { customer_id: 42, plan: 'pro' },
  after: null,
  source: { ts_ms: COMMIT },
};

const fieldTypes = schema({
  'after.plan': 'string',
  'after.amount': 'number',
  'after.age': 'int',
  'after.tickets_90d': 'int',
  'after.signup_date': 'timestamp',
  'after.last_login': 'timestamp',
  'source.ts_ms': 'timestamp',
});

const TENURE = (COMMIT - SIGNUP) / (30.436875 * 86_400_000);

const cases: [string, Row, unknown][] = [
  ['months_between(after.signup_date, source.ts_ms)', update, TENURE],
  ['round(months_between(after.signup_date, source.ts_ms), 2)', update, 24.03],
  ['floor(months_between(after.signup_date, source.ts_ms))', update, 24],
  ['months_between(after.signup_date, source.ts_ms)', deleted, null],
  ['coalesce(after.tickets_90d, 0)', update, 0],
  ['coalesce(before.tickets_90d, 0)', update, 2],
  ["after.plan == 'enterprise' ? 1 : 0", update, 1],
  ["before.plan == 'enterprise' ? 1 : 0", update, 0],
  ["after.plan == 'enterprise' ? 1 : 0", deleted, 0],
  ['after.plan != before.plan', update, true],
  ['log1p(after.amount)', update, Math.log(100)],
  ['log1p(coalesce(after.amount, 0))', deleted, 0],
  ['log1p(to_number(amount))', plain, Math.log1p(12.5)],
  ['clamp(after.score, 0, 100)', update, 100],
  ['clamp(after.age * 2, 0, 100)', update, 72],
  ['bucket(after.age, [18, 30, 45, 65])', update, 2],
  ['bucket(age, [18, 30, 45, 65])', plain, 0],
  ["one_hot(after.plan, ['basic','pro','enterprise'])", update, [0, 0, 1]],
  ["one_hot(plan, ['basic','pro','enterprise'])", plain, [1, 0, 0]],
  ["one_hot(after.plan, ['basic','pro','enterprise'])", deleted, [0, 0, 0]],
  ['hash_bucket(after.country, 32)', update, 12],
  ['hash_bucket(country, 32)', plain, 17],
  ['lower(after.email)', update, 'ada@example.com'],
  ["ends_with(lower(after.email), '@example.com') ? 1 : 0", update, 1],
  ['len(trim(after.name))', update, 12],
  ['len(after.name)', update, 14],
  ['is_null(after.tickets_90d)', update, true],
  ['is_null(after.x) ? 1 : 0', update, 1],
  ['is_null(after)', deleted, true],
  ['year(after.signup_date)', update, 2022],
  ['month(after.signup_date)', update, 3],
  ['day_of_month(after.last_login)', update, 10],
  ['day_of_week(source.ts_ms)', update, 5],
  ['hour(after.last_login)', update, 7],
  ['hour(source.ts_ms) + 0.5', update, 9.5],
  ['days_between(after.last_login, source.ts_ms)', update, 5 + 2.5 / 24],
  ['days_between(after.signup_date, now())', update, (NOW - SIGNUP) / 86_400_000],
  ['(source.ts_ms - after.signup_date) / 86400000', update, (COMMIT - SIGNUP) / 86_400_000],
  ['after.last_login < source.ts_ms', update, true],
  ['after.age >= 18 && after.age < 65 ? 1 : 0', update, 1],
  ['after.age >= 18 and not after.churn_flag', update, true],
  ['sigmoid(after.age / 10 - 3.6)', update, 0.5],
  ["concat(op, ':', key.customer_id)", update, 'u:42'],
  ['key.customer_id', update, 42],
  ['source.lsn % 1000', update, 456],
  ["op == 'd' ? -1 : 1", deleted, -1],
  ['coalesce(after.customer_id, before.customer_id)', deleted, 42],
  ["after['customer_id'] * 1.5", update, 63],
];

describe('feature definitions on realistic records', () => {
  for (const [source, row, expected] of cases) {
    const which = row === update ? 'update' : row === plain ? 'plain' : 'delete';
    it(`${source} [${which}]`, () => {
      assert.deepEqual(compiled(source, { fieldTypes }).evaluate(row), expected);
      // The same definition compiled without a schema gives the same value.
      assert.deepEqual(compiled(source).evaluate(row), expected);
    });
  }
});
