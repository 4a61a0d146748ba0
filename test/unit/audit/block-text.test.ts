import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { BlockText } from '../../../workers/audit/block-text.js';

test('a block’s text is its records a line each, in UTF-8, with each record’s sha256 in order, however it grows', () => {
  // Multi-byte text (é: 2 bytes, 🙂: 4) and records far larger than the initial estimate.
  const records = Array.from(
    { length: 300 },
    (_, i) => `{"key":${i},"name":"${'é🙂x'.repeat(i % 7)}","pad":"${'p'.repeat((i * 37) % 3000)}"}`,
  );
  const block = new BlockText(records.length, 16);
  for (const r of records) block.add(r);
  assert.equal(block.count, 300);
  assert.equal(block.bytes.toString('utf8'), records.join('\n'));
  // Each record's end: the byte after it (a newline, or the end of the block).
  let start = 0;
  for (const [i, r] of records.entries()) {
    const end = block.ends[i]!;
    assert.equal(block.bytes.subarray(start, end).toString('utf8'), r, `bytes of record ${i}`);
    start = end + 1;
  }
  assert.equal(block.ends.at(-1), block.bytes.length);
  for (const [i, r] of records.entries()) {
    assert.deepEqual(
      block.hashes.subarray(i * 32, i * 32 + 32),
      createHash('sha256').update(r, 'utf8').digest(),
      `hash of record ${i}`,
    );
  }
});

test('a block reusing an earlier block’s buffers holds only its own records and hashes, whether they fit or outgrow them', () => {
  const first = new BlockText(50, 64);
  for (let i = 0; i < 50; i++) first.add(`{"first":${i},"pad":"${'q'.repeat(i * 11)}"}`);
  for (const count of [3, 200]) {
    const records = Array.from({ length: count }, (_, i) => `{"second":${i},"s":"${'é'.repeat(i % 5)}"}`);
    const block = new BlockText(count, 16, first.buffers);
    for (const r of records) block.add(r);
    assert.equal(block.bytes.toString('utf8'), records.join('\n'), `${count} records`);
    assert.equal(block.hashes.length, count * 32);
    const expected = Buffer.concat(records.map((r) => createHash('sha256').update(r, 'utf8').digest()));
    assert.deepEqual(block.hashes, expected, `${count} hashes`);
  }
});

test('records the caller vouches are ASCII are copied in as they are, beside UTF-8 ones, hashed alike', () => {
  const records = Array.from({ length: 40 }, (_, i) =>
    i % 3 === 0 ? `{"n":${i},"t":"caf\u00e9"}` : `{"n":${i},"t":"${'a'.repeat(i * 50)}"}`,
  );
  const block = new BlockText(4, 8);
  for (const [i, r] of records.entries()) block.add(r, i % 3 !== 0);
  assert.equal(block.bytes.toString('utf8'), records.join('\n'));
  for (const [i, r] of records.entries())
    assert.deepEqual(
      block.hashes.subarray(i * 32, i * 32 + 32),
      createHash('sha256').update(r, 'utf8').digest(),
    );
});
