import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
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
    // The CLI's first import, then kafkajs' producer; the module is asked only then (had the CLI
    // not imported it, it would load now, too late to replace anything).
    const script = [
      "await import('./workers/cli/process-env.ts');",
      "const { Kafka } = await import('kafkajs');",
      "const { createRequire } = await import('node:module');",
      'const req = createRequire(process.cwd() + "/x.js");',
      'new Kafka({ brokers: ["127.0.0.1:1"] }).producer();',
      "const fn = req('kafkajs/src/producer/groupMessagesPerPartition.js');",
      "const { kafkajsGroupingPatched } = await import('./workers/core/kafkajs-grouping.ts');",
      'console.log(JSON.stringify({ patched: kafkajsGroupingPatched(), name: fn.name }));',
    ].join('\n');
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1)!), {
      patched: true,
      name: 'groupMessagesPerPartition',
    });
  });
});
