import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inCanary, keyBucket } from '../../../workers/rollout/canary.js';

test('a canary of 10 % takes 10 ± 2 % of 10,000 sequential keys, and each key always the same side', () => {
  for (const percent of [1, 10, 25, 50]) {
    let taken = 0;
    for (let k = 1; k <= 10_000; k++) if (inCanary(k, percent)) taken++;
    const share = taken / 100;
    assert.ok(Math.abs(share - percent) <= 2, `percent ${percent}: got ${share} %`);
  }
  for (let k = 1; k <= 1000; k++) assert.equal(inCanary(k, 10), inCanary(k, 10));
});

test('string, composite and int64 keys spread too; an int64 read as number or bigint is the same bucket', () => {
  let taken = 0;
  for (let k = 0; k < 10_000; k++) if (inCanary(`cust-${k}`, 20)) taken++;
  assert.ok(Math.abs(taken / 100 - 20) <= 2, `string keys: ${taken / 100} %`);
  taken = 0;
  for (let k = 0; k < 10_000; k++) if (inCanary({ tenant: k % 7, id: k }, 20)) taken++;
  assert.ok(Math.abs(taken / 100 - 20) <= 2, `composite keys: ${taken / 100} %`);
  assert.equal(keyBucket(42), keyBucket(42n));
  assert.notEqual(keyBucket(9007199254740993n), keyBucket(9007199254740992n));
});

test('0 % takes no key and 100 % every key', () => {
  for (let k = 0; k < 2000; k++) {
    assert.equal(inCanary(k, 0), false);
    assert.equal(inCanary(k, 100), true);
  }
});
