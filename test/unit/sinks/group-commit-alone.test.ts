/** GroupCommit's `retryAlone`: a row-data error of a merged flush reaches only the caller holding the row. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FlushInfo, GroupCommit } from '../../../workers/sinks/shared/group-commit.js';

class BadRow extends Error {}

function buffer(retryAlone?: (err: unknown) => boolean) {
  const flushes: { items: string[]; info: FlushInfo }[] = [];
  const gc = new GroupCommit<string>(
    { maxRows: 1000, maxBytes: 1_000_000, maxIntervalMs: 10 },
    async (items, info) => {
      flushes.push({ items: [...items], info });
      if (items.includes('bad')) throw new BadRow(`bad row among ${items.join(',')}`);
    },
    retryAlone === undefined ? {} : { retryAlone },
  );
  const add = (...items: string[]) => gc.add(items, (s) => s.length);
  return { add, flushes };
}

const settled = (p: Promise<void>) =>
  p.then(
    () => 'written',
    (e: unknown) => (e instanceof BadRow ? 'rejected' : `other: ${String(e)}`),
  );

describe('group commit: retryAlone', () => {
  it('flushes each caller alone after a merged flush fails with a row error: only the bad row’s caller rejects', async () => {
    const { add, flushes } = buffer((e) => e instanceof BadRow);
    const results = await Promise.all([settled(add('a', 'b')), settled(add('c', 'bad')), settled(add('d'))]);
    assert.deepEqual(results, ['written', 'rejected', 'written']);
    assert.deepEqual(
      flushes.map((f) => [f.items.join(','), f.info.reason]),
      [
        ['a,b,c,bad,d', 'interval'],
        ['a,b', 'alone'],
        ['c,bad', 'alone'],
        ['d', 'alone'],
      ],
    );
    assert.deepEqual(
      flushes.map((f) => f.info.seq),
      [1, 2, 3, 4],
    );
  });

  it('rejects every caller of the group when the error is not one to retry alone, or without the option', async () => {
    for (const retryAlone of [(e: unknown) => !(e instanceof BadRow), undefined]) {
      const { add, flushes } = buffer(retryAlone);
      const results = await Promise.all([settled(add('a')), settled(add('bad'))]);
      assert.deepEqual(results, ['rejected', 'rejected']);
      assert.equal(flushes.length, 1);
    }
  });

  it('a single caller’s failed flush is not flushed again', async () => {
    const { add, flushes } = buffer(() => true);
    assert.equal(await settled(add('a', 'bad')), 'rejected');
    assert.equal(flushes.length, 1);
  });

  it('later groups still flush after the callers were retried alone', async () => {
    const { add, flushes } = buffer((e) => e instanceof BadRow);
    const first = Promise.all([settled(add('bad')), settled(add('x'))]);
    await new Promise((r) => setTimeout(r, 1));
    const later = settled(add('y'));
    assert.deepEqual(await first, ['rejected', 'written']);
    assert.equal(await later, 'written');
    assert.deepEqual(flushes.at(-1)!.items, ['y']);
  });
});
