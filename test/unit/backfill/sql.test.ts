import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  boundariesStatement,
  chunkStatement,
  type TableShape,
  tailCountStatement,
} from '../../../workers/backfill/postgres/sql.js';

const one: TableShape = {
  table: 'crm.customers',
  keys: [{ name: 'customer_id', type: 'bigint' }],
  updatedAt: 'updated_at',
};
const two: TableShape = {
  table: 'crm.orders',
  keys: [
    { name: 'tenant', type: 'text' },
    { name: 'id', type: 'integer' },
  ],
  updatedAt: undefined,
};
const all = { where: [], since: null };

describe('Postgres reader SQL', () => {
  it('chunk boundaries: every chunk_size-th key by row_number(), never OFFSET', () => {
    const s = boundariesStatement(one, all, 10000);
    assert.equal(
      s.sql,
      'SELECT "customer_id"::text FROM (SELECT "customer_id", row_number() OVER (ORDER BY "customer_id") AS rn ' +
        'FROM "crm"."customers") AS k WHERE k.rn % $1::int8 = 0 ORDER BY k.rn',
    );
    assert.deepEqual(s.params, [10000]);
    assert.doesNotMatch(s.sql, /OFFSET/i);
  });

  it('filters: where conditions (ANDed, parenthesized) and the since-window as a parameter', () => {
    const s = boundariesStatement(
      one,
      { where: ["plan = 'pro'", 'seats > 1 OR seats IS NULL'], since: '2026-11-01T00:00:00.000Z' },
      500,
    );
    assert.match(
      s.sql,
      / FROM "crm"\."customers" WHERE \(plan = 'pro'\) AND \(seats > 1 OR seats IS NULL\) AND "updated_at" >= \$1::timestamptz\) AS k WHERE k\.rn % \$2::int8 = 0/,
    );
    assert.deepEqual(s.params, ['2026-11-01T00:00:00.000Z', 500]);
  });

  it('chunk reads: composite keys compare as rows, bounds cast to the key types', () => {
    const s = chunkStatement(two, all, { lower: ['acme', '41'], upper: ['acme', '99'] });
    assert.equal(
      s.sql,
      'SELECT * FROM "crm"."orders" WHERE ("tenant", "id") > ($1::text, $2::integer) AND ("tenant", "id") <= ($3::text, $4::integer) ORDER BY "tenant", "id"',
    );
    assert.deepEqual(s.params, ['acme', '41', 'acme', '99']);
    assert.equal(
      chunkStatement(two, all, { lower: null, upper: null }).sql,
      'SELECT * FROM "crm"."orders" ORDER BY "tenant", "id"',
    );
  });

  it('the tail count after the last boundary', () => {
    const s = tailCountStatement(one, all, ['20000']);
    assert.equal(
      s.sql,
      'SELECT count(*)::int8 AS n FROM "crm"."customers" WHERE ("customer_id") > ($1::bigint)',
    );
  });
});
