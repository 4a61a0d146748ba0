/** The group-commit buffer (workers/sinks/shared/group-commit.ts) that the Snowflake sink batches with. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type FlushInfo,
  GroupCommit,
  GroupCommitClosedError,
  type GroupCommitLimits,
} from '../../../workers/sinks/shared/group-commit.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Flush {
  items: string[];
  info: FlushInfo;
}

function harness(limits: Partial<GroupCommitLimits>, flushMs = 0, fail?: (items: string[]) => unknown) {
  const flushes: Flush[] = [];
  let running = 0;
  let overlap = false;
  const gc = new GroupCommit<string>(
    { maxRows: 1000, maxBytes: 1_000_000, maxIntervalMs: 20, ...limits },
    async (items, info) => {
      running += 1;
      if (running > 1) overlap = true;
      flushes.push({ items: [...items], info });
      await sleep(flushMs);
      running -= 1;
      const err = fail?.(items);
      if (err !== undefined) throw err;
    },
  );
  const add = (...items: string[]) => gc.add(items, (s) => s.length);
  return { gc, add, flushes, overlap: () => overlap };
}

describe('group commit', () => {
  it('gathers concurrent adds into one flush after the interval and resolves them together', async () => {
    const { add, flushes } = harness({ maxIntervalMs: 30 });
    const done: string[] = [];
    const started = Date.now();
    await Promise.all([
      add('a').then(() => done.push('a')),
      add('b', 'c').then(() => done.push('bc')),
      add('d').then(() => done.push('d')),
    ]);
    assert.ok(Date.now() - started >= 25);
    assert.equal(flushes.length, 1);
    assert.deepEqual(flushes[0]!.items, ['a', 'b', 'c', 'd']);
    assert.deepEqual(flushes[0]!.info, { seq: 1, reason: 'interval', rows: 4, bytes: 4 });
    assert.deepEqual(done.sort(), ['a', 'bc', 'd']);
  });
  it('does not resolve an add before its flush has finished', async () => {
    const { add } = harness({ maxIntervalMs: 5 }, 50);
    let resolved = false;
    const p = add('a').then(() => {
      resolved = true;
    });
    await sleep(30);
    assert.equal(resolved, false, 'the flush is still running');
    await p;
    assert.equal(resolved, true);
  });
  it('flushes as soon as maxRows is reached and splits an add across groups', async () => {
    const { add, flushes } = harness({ maxRows: 2, maxIntervalMs: 60_000 });
    await add('a', 'b', 'c', 'd');
    assert.deepEqual(
      flushes.map((f) => [f.items, f.info.reason]),
      [
        [['a', 'b'], 'rows'],
        [['c', 'd'], 'rows'],
      ],
    );
  });
  it('flushes by bytes, never with more than maxBytes unless one item is larger', async () => {
    const { add, flushes } = harness({ maxBytes: 5, maxIntervalMs: 10 });
    await Promise.all([add('aaa', 'bb', 'c'), add('dddddddd')]);
    assert.deepEqual(
      flushes.map((f) => f.items),
      [['aaa', 'bb'], ['c'], ['dddddddd']],
    );
    assert.equal(flushes[0]!.info.reason, 'bytes');
  });
  it('runs one flush at a time; rows arriving meanwhile form the next group', async () => {
    const { add, flushes, overlap } = harness({ maxIntervalMs: 5 }, 40);
    const first = add('a');
    await sleep(15); // the first flush is running now
    await Promise.all([first, add('b'), add('c')]);
    assert.equal(overlap(), false);
    assert.deepEqual(
      flushes.map((f) => f.items),
      [['a'], ['b', 'c']],
    );
    assert.deepEqual(
      flushes.map((f) => f.info.seq),
      [1, 2],
    );
  });
  it('rejects every add of a failed flush with its error, and later groups still flush', async () => {
    const boom = new Error('boom');
    const { add, flushes } = harness({ maxRows: 2, maxIntervalMs: 5 }, 0, (items) =>
      items.includes('bad') ? boom : undefined,
    );
    const results = await Promise.allSettled([add('bad'), add('x', 'y', 'z'), add('v')]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected', 'fulfilled'],
      'the second add spans the failed group, so it fails although y and z were written',
    );
    assert.equal((results[0] as PromiseRejectedResult).reason, boom);
    assert.deepEqual(
      flushes.map((f) => f.items),
      [['bad', 'x'], ['y', 'z'], ['v']],
    );
    await add('w');
  });
  it('drains pending rows on close and refuses later adds', async () => {
    const { gc, add, flushes } = harness({ maxIntervalMs: 60_000 });
    const p = add('a');
    assert.equal(gc.pendingRows, 1);
    await gc.close();
    await p;
    assert.equal(flushes[0]!.info.reason, 'drain');
    await assert.rejects(add('b'), GroupCommitClosedError);
    assert.equal(gc.pendingRows, 0);
  });
  it('resolves an empty add at once', async () => {
    const { gc, flushes } = harness({});
    await gc.add([], () => 0);
    await gc.drain();
    assert.equal(flushes.length, 0);
  });
});
