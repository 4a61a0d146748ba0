import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { afterCliImport } from '../../support/kafkajs-patches.js';
import { seededRandom } from '../../support/random.js';

const require = createRequire(import.meta.url);
type Encoder = { buffer: Buffer } & Record<string, (...args: unknown[]) => unknown>;
type EncoderClass = new (initialSize?: number) => Encoder;
// kafkajs' own encoder, taken before the patch module below is loaded.
const Original = require('kafkajs/src/protocol/encoder.js') as EncoderClass;

describe('kafkajs pooled encoder (core/kafkajs-encoder.ts)', () => {
  test('writes exactly kafkajs’ bytes for random sequences of every write, from a dirty pool', async () => {
    const { pooledEncoder } = await import('../../../workers/core/kafkajs-encoder.js');
    const Pooled = pooledEncoder(Original as never) as unknown as EncoderClass;
    const rnd = seededRandom(5);
    const int = (n: number) => Math.floor(rnd() * n);
    const text = () => 'aé€😀b'.repeat(1 + int(200)).slice(0, int(900));
    const bytes = () => Buffer.from(Array.from({ length: int(3000) }, () => int(256)));
    const textOrBytes = () => (rnd() < 0.5 ? bytes() : text());
    // Each write as [method, argument], drawn once and applied to both encoders.
    const draws: (() => [string, unknown])[] = [
      () => ['writeInt8', int(256) - 128],
      () => ['writeInt16', int(65_536) - 32_768],
      () => ['writeInt32', int(2 ** 32) - 2 ** 31],
      () => ['writeUInt32', int(2 ** 32)],
      () => ['writeInt64', String(int(2 ** 53))],
      () => ['writeDouble', rnd() * 1e6],
      () => ['writeBoolean', rnd() < 0.5],
      () => ['writeString', rnd() < 0.1 ? null : text()],
      () => ['writeVarIntString', rnd() < 0.1 ? null : text()],
      () => ['writeUVarIntString', text()],
      () => ['writeBytes', textOrBytes()],
      () => ['writeVarIntBytes', textOrBytes()],
      () => ['writeUVarIntBytes', textOrBytes()],
      () => ['writeVarInt', int(2 ** 31) - 2 ** 30],
      () => ['writeUVarInt', int(2 ** 31)],
      () => ['writeVarLong', int(2 ** 40)],
      () => ['writeEncoder', text()],
    ];
    for (let round = 0; round < 300; round++) {
      const size = rnd() < 0.5 ? undefined : int(5000);
      const writes = Array.from({ length: int(40) }, () => draws[int(draws.length)]!());
      const encode = (E: EncoderClass) => {
        // Garbage in Node's pool, where the pooled encoder takes its buffers from.
        Buffer.allocUnsafe(4000).fill(0xa5);
        const e = new E(size);
        for (const [method, arg] of writes) {
          if (method !== 'writeEncoder') e[method]!(arg);
          else {
            // A record's encoder written into its batch's, as kafkajs does.
            const inner = new E();
            inner['writeVarIntString']!(arg);
            e['writeEncoder']!(inner);
          }
        }
        return e.buffer;
      };
      assert.deepEqual(encode(Pooled), encode(Original), `round ${round}`);
    }
  });

  test('the CLI’s first import puts it in place of kafkajs’ before kafkajs loads', () => {
    assert.deepEqual(
      afterCliImport([
        "const Record = req('kafkajs/src/protocol/recordBatch/record/v0/index.js');",
        "const encoded = Record({ key: Buffer.from('k'), value: Buffer.from('v') });",
        "const { kafkajsEncoderPatched } = await import('./workers/core/kafkajs-encoder.ts');",
        'console.log(JSON.stringify({ patched: kafkajsEncoderPatched(), name: encoded.constructor.name }));',
      ]),
      { patched: true, name: 'PooledEncoder' },
    );
  });
});
