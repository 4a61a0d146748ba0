import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import { afterCliImport } from '../../support/kafkajs-patches.js';
import { seededRandom } from '../../support/random.js';

const require = createRequire(import.meta.url);
// kafkajs' own checksum, taken before the patch module below is loaded.
const original = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;

describe('kafkajs CRC-32C (core/kafkajs-crc32c.ts)', () => {
  test('gives kafkajs’ checksum: the standard check value, and random buffers of 0 to 70,000 bytes', async () => {
    const { crc32c } = await import('../../../workers/core/kafkajs-crc32c.js');
    // CRC-32C (Castagnoli) of "123456789", as RFC 3720 (iSCSI) gives it.
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(original(Buffer.from('123456789')), 0xe3069283);
    const rnd = seededRandom(11);
    const sizes = [0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 255, 256, 1023, 4096, 65_537, 70_000];
    for (let i = 0; i < 200; i++) sizes.push(Math.floor(rnd() * 20_000));
    for (const size of sizes) {
      const buf = Buffer.alloc(size);
      for (let j = 0; j < size; j++) buf[j] = Math.floor(rnd() * 256);
      // A view into a larger buffer, as kafkajs' encoder hands it over.
      const view = Buffer.concat([Buffer.from([1, 2, 3]), buf, Buffer.from([4])]).subarray(3, 3 + size);
      assert.equal(crc32c(buf), original(buf), `${size} bytes`);
      assert.equal(crc32c(view), original(view), `${size} bytes, a view`);
    }
  });

  test('the CLI’s first import puts it in place of kafkajs’ before kafkajs’ record batch encoder loads', () => {
    assert.deepEqual(
      afterCliImport([
        "req('kafkajs/src/protocol/recordBatch/v0/index.js');",
        "const fn = req('kafkajs/src/protocol/recordBatch/crc32C/index.js');",
        "const { kafkajsCrc32cPatched } = await import('./workers/core/kafkajs-crc32c.ts');",
        'console.log(JSON.stringify({ patched: kafkajsCrc32cPatched(), name: fn.name }));',
      ]),
      { patched: true, name: 'crc32c' },
    );
  });
});
