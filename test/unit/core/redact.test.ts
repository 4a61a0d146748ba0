import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactText } from '../../../workers/core/secret.js';

test('redactText: a secret as itself, longest first', () => {
  assert.equal(redactText('pw s3cret and s3cretive', ['s3cret', 's3cretive']), 'pw *** and ***');
});

test('redactText: a numeric secret as the number a problem prints', () => {
  assert.equal(
    redactText('password: expected string, got 12345678901234567000', ['12345678901234567891']),
    'password: expected string, got ***',
  );
  assert.equal(redactText('got 100000', ['1e5']), 'got ***');
});

test('redactText: the start of a secret that an ellipsis cuts off (8 characters or more)', () => {
  const url = 'http://reg:hunter2hunter2@registry host:8081/apis/ccompat/v7/and/more';
  assert.equal(redactText(`got '${url.slice(0, 57)}...'`, [url]), "got '***...'");
  assert.equal(redactText('value abcdefghij…', ['abcdefghijklmnop']), 'value ***…');
  assert.equal(redactText('abcdefg...', ['abcdefghijklmnop']), 'abcdefg...', 'shorter starts stay');
});

test('redactText: the password of any URL with user info', () => {
  assert.equal(
    redactText('{"url":"http://reg:pw1@127.0.0.1:18081/x","db":"postgres://u:***@h/db"}', []),
    '{"url":"http://reg:***@127.0.0.1:18081/x","db":"postgres://u:***@h/db"}',
  );
  assert.equal(
    redactText('http://host:8080/x?a=b:c@d and 12:34: text', []),
    'http://host:8080/x?a=b:c@d and 12:34: text',
  );
});
