import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { afterCliImport } from '../../support/kafkajs-patches.js';
import { seededRandom } from '../../support/random.js';

const require = createRequire(import.meta.url);
// kafkajs' own grouping, taken before the patch module below is loaded.
const original = require('kafkajs/src/producer/groupMessagesPerPartition.js') as (a: unknown) => unknown;

describe('kafkajs grouping (core/kafkajs-grouping.ts)', () => {
  test('groups exactly as kafkajs does: same partitions, same messages, same order', async () => {
    const { groupMessagesPerPartition } = await import('../../../workers/core/kafkajs-grouping.js');
    const rnd = seededRandom(7);
    for (let round = 0; round < 200; round++) {
      const partitions = 1 + Math.floor(rnd() * 12);
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0 }));
      const messages = Array.from({ length: Math.floor(rnd() * 300) }, (_, i) => ({
        key: `k${i}`,
        value: 'v',
      }));
      const assign = new Map(messages.map((m) => [m, Math.floor(rnd() * partitions)]));
      const args = {
        topic: 't',
        partitionMetadata,
        messages,
        partitioner: ({ message }: { message: unknown }) => assign.get(message as (typeof messages)[0])!,
      };
      assert.deepEqual(groupMessagesPerPartition(args), original(args));
    }
    const none = { topic: 't', partitionMetadata: [], messages: [{}], partitioner: () => 0 };
    assert.deepEqual(groupMessagesPerPartition(none), original(none));
  });

  test('the CLI’s first import puts it in place of kafkajs’ before kafkajs’ producer loads', () => {
    assert.deepEqual(
      afterCliImport([
        "const fn = req('kafkajs/src/producer/groupMessagesPerPartition.js');",
        "const { kafkajsGroupingPatched } = await import('./workers/core/kafkajs-grouping.ts');",
        'console.log(JSON.stringify({ patched: kafkajsGroupingPatched(), name: fn.name }));',
      ]),
      { patched: true, name: 'groupMessagesPerPartition' },
    );
  });
});
