import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InFlightBudget } from '../../../workers/sources/kafka/budget.js';
import { kafkaSourceConfig } from '../../../workers/sources/kafka/config.js';
import { deferred, settle, startSource } from './fake-consumer.js';

// A worker's memory is bounded by the bytes it holds in flight per pipeline (fetched, not yet
// written), whatever the number of partitions it owns, and by the size of each partition's fetch.

/** Whether `p` settles within a few turns of the event loop. */
async function settles(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await settle();
  return settled;
}

describe('InFlightBudget', () => {
  it('holds the next fetch while more than its bytes are in flight, and lets it go as batches settle', async () => {
    const b = new InFlightBudget(100);
    const one = deferred();
    const two = deferred();
    b.add(one.promise, 60);
    assert.equal(await settles(b.ready()), true, '60 ≤ 100 bytes');
    b.add(two.promise, 60);
    const ready = b.ready();
    assert.equal(await settles(ready), false, '120 > 100 bytes');
    one.reject(new Error('a failed batch leaves too'));
    assert.equal(await settles(ready), true);
    assert.equal(b.bytes, 60);
  });

  it('0 is no bound; release() lets every waiter go', async () => {
    const free = new InFlightBudget(0);
    free.add(deferred().promise, 1e9);
    assert.equal(await settles(free.ready()), true);
    const b = new InFlightBudget(1);
    b.add(deferred().promise, 10);
    const ready = b.ready();
    b.release();
    assert.equal(await settles(ready), true);
  });
});

describe('Kafka source memory bounds', () => {
  it('defaults: 1 MiB per partition fetch and 16 MiB in flight; the fetch size reaches the consumer', async () => {
    const c = kafkaSourceConfig.parse({ brokers: 'b:1', topics: 't', group_id: 'g' });
    assert.equal(c.max_bytes_per_partition, 1048576);
    assert.equal(c.max_bytes_in_flight, 16777216);
    const h = await startSource({ config: { max_bytes_per_partition: 262144 } });
    assert.equal(h.consumer.options?.['maxBytesPerPartition'], 262144);
  });

  it('does not return a batch to kafkajs (so no partition fetches) while the bytes in flight exceed the budget', async () => {
    // The fake's messages are `k<offset>` + `{}`: 4 bytes each for offsets 0-9.
    const h = await startSource({ config: { max_bytes_in_flight: 30 } });
    assert.equal(await settles(h.consumer.deliver('t', 0, 0, 5)), true, '20 bytes in flight');
    const second = h.consumer.deliver('t', 1, 0, 5);
    assert.equal(await settles(second), false, '40 bytes in flight: the fetch waits');
    h.writes[0]!.done.resolve();
    assert.equal(await settles(second), true, 'partition 0 written: 20 bytes');
    h.writes[1]!.done.resolve();
    await settle();
    assert.deepEqual(h.consumer.committed('t', 0), ['5']);
    assert.deepEqual(h.consumer.committed('t', 1), ['5']);
  });

  it('a partition window alone would let the second batch return at once', async () => {
    const h = await startSource({ config: { max_bytes_in_flight: 0 } });
    await h.consumer.deliver('t', 0, 0, 5);
    assert.equal(await settles(h.consumer.deliver('t', 1, 0, 5)), true);
  });
});
