import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Uuid7Source } from '../../../workers/core/uuid7.js';

test('UUIDv7 ids: RFC 9562 layout (version 7, variant 10), the time in their first 48 bits, distinct across pool refills', () => {
  const ids = new Uuid7Source();
  const at = Date.UTC(2026, 11, 7, 4, 58, 1, 234);
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const id = ids.next(at + (i % 3));
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16), at + (i % 3), id);
    seen.add(id);
  }
  assert.equal(seen.size, 2000);
  // Time-ordered: a later millisecond sorts after, as text and as Postgres' uuid order.
  assert.ok(ids.next(at + 1) > ids.next(at));
});
