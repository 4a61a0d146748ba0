import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDocument } from 'yaml';
import { findAliasBomb } from '../../../workers/spec/yaml-errors.js';

test('anchors and merges of an ordinary size are no alias bomb, nor is an alias inside its own anchor', () => {
  const doc = parseDocument('base: &b { a: 1, b: 2 }\nx: { <<: *b, c: 3 }\ny: [*b, *b]\nloop: &l [*l]\n', {
    merge: true,
  });
  assert.equal(findAliasBomb(doc), undefined);
});

test('the alias bomb is the alias at which the copied values pass the limit', () => {
  const doc = parseDocument('a: &a [1, 2, 3]\nb: &b [*a, *a, *a]\nc: [*b, *b]\n');
  // *a copies 4 values (the list and its items), *b 13: 4+4+4 = 12, then the first *b makes 25.
  const bomb = findAliasBomb(doc, 20);
  assert.equal(bomb?.alias.source, 'b');
  assert.equal(bomb?.size, 13);
  assert.equal(bomb?.alias.range?.[0], 'a: &a [1, 2, 3]\nb: &b [*a, *a, *a]\nc: ['.length);
});
