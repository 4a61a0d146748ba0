import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../workers/core/errors.js';
import { resolveColumnMap } from '../../../workers/sinks/shared/column-map.js';
import { fieldSlots } from '../../../workers/sinks/shared/fields.js';
import { derivedIdent, quoteIdent, quoteQualified } from '../../../workers/sinks/shared/identifiers.js';
import { latestPerKey, splitDeletes } from '../../../workers/sinks/shared/latest.js';
import { sqlType } from '../../../workers/sinks/shared/sql-types.js';
import { columnArrays, toSqlParam } from '../../../workers/sinks/shared/values.js';
import { batch, compositeSchema, del, fields, pos, row, SCORED_AT, schema } from './fixtures.js';

const base = {
  sink: 'postgres sink ml.scores',
  columns: { customer_id: 'key', score: 'churn_probability', tenure: 'feature.tenure_months' },
  key: ['customer_id'],
  schema,
};

function configError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(PipelineError.is(err));
    assert.equal(err.code, 'SINK_CONFIG_INVALID');
    assert.equal(err.retryable, false);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('identifiers', () => {
  it('always quotes, doubling embedded quotes', () => {
    assert.equal(quoteIdent('customer_id'), '"customer_id"');
    assert.equal(quoteIdent('Weird"Name'), '"Weird""Name"');
    assert.equal(quoteQualified('ml.customer_churn_scores'), '"ml"."customer_churn_scores"');
  });
  it('derives identifiers within 63 characters, distinct for distinct bases', () => {
    assert.equal(derivedIdent('scores', '__tombstones'), 'scores__tombstones');
    const a = derivedIdent('a'.repeat(60), '__tombstones');
    const b = derivedIdent(`${'a'.repeat(59)}b`, '__tombstones');
    assert.equal(a.length, 63);
    assert.ok(a.endsWith('__tombstones'));
    assert.notEqual(a, b);
  });
});

describe('column map', () => {
  it('resolves refs to types and accessors, then appends the metadata columns', () => {
    const map = resolveColumnMap(base);
    assert.deepEqual(
      map.columns.map((c) => [c.name, c.ref, c.type, c.isKey, c.metadata]),
      [
        ['customer_id', 'key', 'int', true, false],
        ['score', 'churn_probability', 'float', false, false],
        ['tenure', 'feature.tenure_months', 'float', false, false],
        ['model_name', 'model.name', 'string', false, true],
        ['model_version', 'model.version', 'string', false, true],
        ['source_position', 'source.position', 'position', false, true],
        ['scored_at', 'scored_at', 'timestamp', false, true],
      ],
    );
    const b = batch([row(7, pos(10), 0.75)]);
    const values = map.columns.map((c) => c.read(b.rows[0]!, b));
    assert.deepEqual(values, [7, 0.75, 12, 'churn', '1', pos(10), SCORED_AT]);
    assert.deepEqual(
      map.keyColumns.map((c) => c.name),
      ['customer_id'],
    );
  });

  it('accepts explicit metadata columns and extra metadata refs (op, positions under another name)', () => {
    const map = resolveColumnMap({
      ...base,
      columns: { customer_id: 'key', model_name: 'model.name', change: 'op', pos: 'source.position' },
    });
    assert.deepEqual(
      map.columns.map((c) => c.name),
      ['customer_id', 'model_name', 'change', 'pos', 'model_version', 'source_position', 'scored_at'],
    );
  });

  it('reads composite key parts', () => {
    const map = resolveColumnMap({
      ...base,
      schema: compositeSchema,
      columns: { tenant: 'key.tenant', customer_id: 'key.customer_id', score: 'churn_probability' },
      key: ['tenant', 'customer_id'],
    });
    const b = batch([row({ tenant: 'acme', customer_id: 3 }, pos(1))]);
    assert.deepEqual(
      map.keyColumns.map((c) => [c.name, c.type, c.read(b.rows[0]!, b)]),
      [
        ['tenant', 'string', 'acme'],
        ['customer_id', 'int', 3],
      ],
    );
    assert.equal(map.keyIdentity(b.rows[0]!, b), '["acme",3]');
  });

  it('rejects bad mappings with messages naming the column, what was expected and what was found', () => {
    configError(
      () => resolveColumnMap({ ...base, columns: { ...base.columns, x: 'churn_probabilty' } }),
      /column x: expected one of churn_probability, churn_label, .* got 'churn_probabilty'/,
    );
    configError(
      () => resolveColumnMap({ ...base, columns: { ...base.columns, x: 'key.tenant' } }),
      /column x: expected 'key' for the scalar entity key, got 'key.tenant'/,
    );
    configError(
      () => resolveColumnMap({ ...base, schema: compositeSchema }),
      /column customer_id: expected a scalar entity key for 'key', got a composite key \(tenant, customer_id\)/,
    );
    configError(
      () => resolveColumnMap({ ...base, key: ['score'] }),
      /key column score: expected it to be filled from the entity key .* got 'churn_probability'/,
    );
    configError(
      () => resolveColumnMap({ ...base, key: ['nope'] }),
      /key column nope: expected a column listed in columns/,
    );
    configError(
      () => resolveColumnMap({ ...base, columns: { ...base.columns, scored_at: 'churn_probability' } }),
      /column scored_at: it is a metadata column, always filled from 'scored_at'/,
    );
    configError(
      () =>
        resolveColumnMap({
          ...base,
          columns: { ...base.columns, deleted_at: 'op' },
          reserved: ['deleted_at'],
        }),
      /column deleted_at: expected a column name the sink does not manage itself/,
    );
  });

  it('checks that a batch carries the fields it was resolved for', () => {
    const map = resolveColumnMap(base);
    map.check(batch([]));
    assert.throws(
      () => map.check({ ...batch([]), fields: ['churn_probability'] }),
      (err: unknown) => PipelineError.is(err) && err.code === 'SINK_FIELDS_MISMATCH',
    );
  });
});

describe('latest per key', () => {
  it('keeps the highest position per key, the later row on a tie', () => {
    const a1 = row(1, pos(1), 0.1);
    const b1 = row(2, pos(5), 0.2);
    const a2 = row(1, pos(3), 0.3);
    const a0 = row(1, pos(2), 0.4);
    const b2 = del(2, pos(5));
    const kept = latestPerKey([a1, b1, a2, a0, b2], (r) => r.key);
    assert.deepEqual(kept, [a2, b2]);
    assert.deepEqual(splitDeletes(kept), { upserts: [a2], deletes: [b2] });
  });
});

describe('values', () => {
  it('converts to driver parameters without losing precision', () => {
    assert.equal(toSqlParam('position', pos(1_700_000_000, 42)), '170000000000000000000000000000000042');
    assert.equal(toSqlParam('int', 2n ** 62n), '4611686018427387904');
    assert.equal(toSqlParam('bool', 1), true);
    assert.equal(toSqlParam('bool', 0), false);
    assert.equal(toSqlParam('timestamp', SCORED_AT), '2026-01-02T03:04:05.678Z');
    assert.equal(toSqlParam('string', { a: 1n }), '{"a":"1"}');
    assert.equal(toSqlParam('float', undefined), null);
  });
  it('builds column-major arrays', () => {
    const map = resolveColumnMap(base);
    const b = batch([row(1, pos(1), 0.1), row(2, pos(2), 0.9)]);
    const arrays = columnArrays(map.columns, b, b.rows);
    assert.deepEqual(arrays[0], [1, 2]);
    assert.deepEqual(arrays[1], [0.1, 0.9]);
    assert.deepEqual(arrays[5], [pos(1).toString(), pos(2).toString()]);
  });
  it('maps field types to SQL types', () => {
    assert.equal(sqlType('float'), 'double precision');
    assert.equal(sqlType('position'), 'numeric(38,0)');
    assert.equal(sqlType('timestamp', 'snowflake'), 'TIMESTAMP_TZ');
  });
  it('splits fields into outputs and features with their indices', () => {
    const { outputs, features } = fieldSlots(schema);
    assert.deepEqual(
      outputs.map((o) => [o.name, o.index]),
      [
        ['churn_probability', 0],
        ['churn_label', 1],
      ],
    );
    assert.deepEqual(
      features.map((o) => [o.name, o.index]),
      [
        ['tenure_months', 2],
        ['plan', 3],
      ],
    );
    assert.equal(fields.length, 4);
  });
});
