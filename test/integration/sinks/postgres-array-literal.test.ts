import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pgArrayLiteral } from '../../../workers/sinks/postgres/array-literal.js';
import { withPg } from '../../support/stack.js';

// The literal pgArrayLiteral writes reads back in Postgres as exactly the values given.
test('array literals read back exactly in Postgres: text of every shape, int64 beyond 2^53, floats, booleans, nulls', async () => {
  const texts = [
    '',
    'NULL',
    'null',
    'a b',
    ' lead',
    'trail ',
    '{x,y}',
    'say "hi"',
    'back\\slash',
    '\\"',
    'line\nbreak',
    'tab\t',
    'é🙂',
    ',',
    null,
  ];
  const ints = ['9007199254740993', '-9223372036854775808', '0', null];
  const floats = [0.1, -2.5e-300, 1e21, Number.NaN, Number.NEGATIVE_INFINITY, null];
  const bools = [true, false, null];
  const r = await withPg(
    async (c) =>
      (
        await c.query(
          'SELECT $1::text[] AS t, $2::bigint[]::text[] AS i, $3::float8[] AS f, $4::bool[] AS b',
          [pgArrayLiteral(texts), pgArrayLiteral(ints), pgArrayLiteral(floats), pgArrayLiteral(bools)],
        )
      ).rows[0],
  );
  assert.deepEqual(r.t, texts);
  assert.deepEqual(r.i, ints);
  assert.deepEqual(r.f, floats);
  assert.deepEqual(r.b, bools);
});
