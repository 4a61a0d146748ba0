import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type PartitionerArgs, Partitioners } from 'kafkajs';
import { FastDefaultPartitioner, murmur2 } from '../../../workers/sinks/kafka/partitioner.js';
import { seededRandom } from '../../support/random.js';

const metadata = (n: number, down: number[] = []) =>
  Array.from({ length: n }, (_, i) => ({
    partitionId: i,
    leader: down.includes(i) ? -1 : 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  }));

describe('kafka partitioner', () => {
  test('murmur2: the Java client’s known values', () => {
    // Kafka's own test vectors (UtilsTest: murmur2 of these strings).
    const vectors: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [s, h] of vectors) assert.equal(murmur2(Buffer.from(s)), h, s);
  });

  test('every key lands where kafkajs’ default partitioner puts it (strings, unicode, buffers, 1–64 partitions)', () => {
    const rnd = seededRandom(42);
    const ours = FastDefaultPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const alphabet = 'abcXYZ019-_/ äöü€𝄞漢字';
    for (let i = 0; i < 20_000; i++) {
      const n = 1 + Math.floor(rnd() * 64);
      const len = Math.floor(rnd() * 80);
      let key: string | Buffer;
      if (i % 2 === 0) {
        key = Array.from({ length: len }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
      } else {
        key = Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)));
      }
      const args: PartitionerArgs = {
        topic: 't',
        partitionMetadata: metadata(n),
        message: { key, value: null },
      };
      assert.equal(ours(args), theirs(args), `key ${JSON.stringify(key)} over ${n} partitions`);
    }
  });

  test('an explicit partition wins; no key round-robins over partitions with a leader', () => {
    const p = FastDefaultPartitioner();
    assert.equal(
      p({ topic: 't', partitionMetadata: metadata(6), message: { key: 'k', value: null, partition: 4 } }),
      4,
    );
    const seen = new Set<number>();
    for (let i = 0; i < 12; i++)
      seen.add(p({ topic: 't', partitionMetadata: metadata(6, [1, 3]), message: { value: null } }));
    assert.deepEqual([...seen].sort(), [0, 2, 4, 5]);
  });
});
