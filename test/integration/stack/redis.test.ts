import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { env, uniqueId } from '../../support/stack.js';

test('redis: a BullMQ job round trip', async () => {
  const connection = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
  const name = `smoke-${uniqueId()}`;
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  const worker = new Worker(name, async (job) => ({ doubled: (job.data as { n: number }).n * 2 }), {
    connection,
  });
  try {
    await events.waitUntilReady();
    const job = await queue.add('double', { n: 21 }, { jobId: 'fixed-id' });
    const again = await queue.add('double', { n: 99 }, { jobId: 'fixed-id' });
    assert.equal(again.id, job.id, 'a deterministic job id does not duplicate work');
    const result = await job.waitUntilFinished(events, 15000);
    assert.deepEqual(result, { doubled: 42 });
  } finally {
    await worker.close();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
    connection.disconnect();
  }
});
