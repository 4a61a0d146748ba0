import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChangeRecord } from '../../../workers/core/types.js';
import { compileExpression } from '../../../workers/expr/index.js';
import { FeatureMapper } from '../../../workers/features/mapper.js';

function expr(source: string) {
  const r = compileExpression(source);
  assert.ok(r.ok);
  return r.value;
}

function mapper(key: string, deleteKey?: 'message_key' | 'before'): FeatureMapper {
  return new FeatureMapper({
    pipeline: 'p',
    key: expr(key),
    features: [{ name: 'x', type: 'float', expr: expr('after.x'), width: 1, onNull: 0 }],
    scoreOps: ['c', 'u', 'r'],
    ...(deleteKey ? { deleteKey } : {}),
  });
}

/**
 * A delete as Debezium emits it under REPLICA IDENTITY DEFAULT: `before` has the real key and
 * zeros/empty strings for the other NOT NULL columns; the message key is the primary key.
 */
function defaultIdentityDelete(id: number | bigint): ChangeRecord {
  return {
    op: 'd',
    root: { op: 'd', before: { id, account_no: 0, email: '' }, after: null, source: {}, key: { id } },
    position: 1n,
    sourceTsMs: 0,
    origin: undefined,
  };
}

describe('delete keys', () => {
  it('reads the key from the message key, exactly', () => {
    const m = mapper('after.id');
    const out = m.map([defaultIdentityDelete(2n ** 63n - 1n), defaultIdentityDelete(7)]);
    assert.deepEqual(out.deleteKeys, [2n ** 63n - 1n, 7]);
    assert.equal(out.failures.length, 0);
  });

  it('never keys a delete on a default-filled column: it fails, naming the column', () => {
    const m = mapper('after.account_no');
    const out = m.map([defaultIdentityDelete(5)]);
    assert.deepEqual(out.deleteKeys, []);
    assert.equal(out.failures.length, 1);
    assert.equal(out.failures[0]!.error.code, 'FEATURE_KEY');
    assert.match(
      out.failures[0]!.error.message,
      /reads after\.account_no, which the delete's message key \(id\)/,
    );
  });

  it('with delete_key: before (REPLICA IDENTITY FULL), reads the before image', () => {
    const full: ChangeRecord = {
      ...defaultIdentityDelete(5),
      root: { op: 'd', before: { id: 5, account_no: 42 }, after: null, source: {}, key: { id: 5 } },
    };
    assert.deepEqual(mapper('after.account_no', 'before').map([full]).deleteKeys, [42]);
  });

  it('fails a delete without a message key under message_key', () => {
    const r = defaultIdentityDelete(5);
    const out = mapper('after.id').map([{ ...r, root: { ...r.root, key: null } }]);
    assert.equal(out.failures.length, 1);
    assert.match(out.failures[0]!.error.message, /no message key/);
  });
});
