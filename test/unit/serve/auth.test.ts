import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Secret } from '../../../workers/core/secret.js';
import { Admission } from '../../../workers/serve/admission.js';
import { bearerToken, TokenSet } from '../../../workers/serve/auth.js';

const OLD = 'old-token-0123456789abcdef';
const NEW = 'new-token-fedcba9876543210';

test('both tokens of a rotation are accepted; anything else is not', () => {
  const set = TokenSet.of([new Secret(OLD), new Secret(NEW)]);
  assert.equal(set.allows(`Bearer ${OLD}`), true);
  assert.equal(set.allows(`Bearer ${NEW}`), true);
  assert.equal(set.allows(`bearer ${NEW}`), true, 'the scheme is case-insensitive');
  for (const header of [
    undefined,
    '',
    'Bearer',
    'Bearer ',
    `Bearer ${OLD}x`,
    `Bearer ${OLD.slice(0, -1)}`,
    `Basic ${Buffer.from(`u:${OLD}`).toString('base64')}`,
    OLD,
    `Bearer ${OLD} ${NEW}`,
  ]) {
    assert.equal(set.allows(header), false, JSON.stringify(header));
  }
  assert.equal(set.open, false);
});

test('auth: none lets every caller in; a token set needs a token', () => {
  assert.equal(TokenSet.none().allows(undefined), true);
  assert.equal(TokenSet.none().open, true);
  assert.throws(() => TokenSet.of([]), /at least one token/);
});

test('the bearer token is read from the header exactly', () => {
  assert.equal(bearerToken('Bearer abc'), 'abc');
  assert.equal(bearerToken('Bearer  abc '), 'abc');
  assert.equal(bearerToken('Token abc'), undefined);
});

test('admission: a request is admitted whole while it fits, then refused until rows leave', () => {
  const a = new Admission(5);
  assert.equal(a.tryEnter(3), true);
  assert.equal(a.tryEnter(3), false, 'would be 6 of 5');
  assert.equal(a.rows, 3, 'a refused request holds nothing');
  assert.equal(a.tryEnter(2), true);
  assert.equal(a.tryEnter(1), false);
  a.leave(3);
  assert.equal(a.tryEnter(1), true);
  assert.equal(a.rows, 3);
  assert.throws(() => new Admission(0), /maxRows must be >= 1/);
});
