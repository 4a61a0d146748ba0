import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OffsetCommitter, type PartitionOffset } from '../../../workers/sources/kafka/committer.js';

const tick = () => new Promise((r) => setImmediate(r));

function gated() {
  const calls: { offsets: PartitionOffset[]; release(err?: unknown): void }[] = [];
  const errors: unknown[] = [];
  const committer = new OffsetCommitter(
    (offsets) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ offsets, release: (err) => (err === undefined ? resolve() : reject(err)) });
      }),
    (err) => errors.push(err),
  );
  return { committer, calls, errors };
}

const at = (partition: number, offset: number): PartitionOffset => ({
  topic: 't',
  partition,
  offset: String(offset),
});

describe('OffsetCommitter', () => {
  it('commits at once, and gathers what moves meanwhile into one request with the highest offsets', async () => {
    const { committer, calls } = gated();
    committer.add(at(0, 10));
    assert.equal(calls.length, 1, 'the first offset goes out at once');
    committer.add(at(1, 5));
    committer.add(at(0, 20));
    committer.add(at(0, 15));
    assert.equal(calls.length, 1, 'one request in flight');
    calls[0]!.release();
    await tick();
    assert.deepEqual(calls[1]!.offsets, [at(1, 5), at(0, 20)]);
    calls[1]!.release();
    await committer.flush();
    assert.equal(calls.length, 2);
  });

  it('flush waits for the request in flight and the offsets queued behind it', async () => {
    const { committer, calls } = gated();
    committer.add(at(0, 1));
    committer.add(at(0, 2));
    let flushed = false;
    const f = committer.flush().then(() => {
      flushed = true;
    });
    calls[0]!.release();
    await tick();
    assert.equal(flushed, false, 'offset 2 is still to be sent');
    assert.deepEqual(calls[1]!.offsets, [at(0, 2)]);
    calls[1]!.release();
    await f;
    assert.equal(committer.pendingCount, 0);
  });

  it('reports a failed commit and carries on with the next offsets', async () => {
    const { committer, calls, errors } = gated();
    committer.add(at(0, 1));
    committer.add(at(0, 2));
    calls[0]!.release(new Error('REBALANCE_IN_PROGRESS'));
    await tick();
    assert.equal(errors.length, 1);
    assert.deepEqual(calls[1]!.offsets, [at(0, 2)]);
    calls[1]!.release();
    await committer.flush();
  });
});
