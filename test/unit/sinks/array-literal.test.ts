import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pgArrayLiteral } from '../../../workers/sinks/postgres/array-literal.js';

test('array literals: numbers and booleans bare, text always quoted, quotes and backslashes escaped, null as NULL', () => {
  assert.equal(pgArrayLiteral([]), '{}');
  assert.equal(
    pgArrayLiteral([1, -2.5, 1e21, Number.NaN, Number.POSITIVE_INFINITY]),
    '{1,-2.5,1e+21,NaN,Infinity}',
  );
  assert.equal(
    pgArrayLiteral([12345678901234567890n, '9007199254740993']),
    '{12345678901234567890,"9007199254740993"}',
  );
  assert.equal(pgArrayLiteral([true, false, null, undefined]), '{t,f,NULL,NULL}');
  assert.equal(
    pgArrayLiteral(['', 'NULL', 'a b', '{x,y}', 'say "hi"', 'back\\slash', 'line\nbreak']),
    '{"","NULL","a b","{x,y}","say \\"hi\\"","back\\\\slash","line\nbreak"}',
  );
});
