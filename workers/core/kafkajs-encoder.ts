/**
 * kafkajs 2.2.4 encodes every record it produces into a `new Encoder()`, whose buffer is a
 * `Buffer.alloc(512)`: a fresh, zero-filled ArrayBuffer per message (and another, doubled, each time
 * one grows), which the garbage collector then tracks as external memory. An encoder writes its
 * bytes strictly in sequence and exposes only `buf.slice(0, offset)`, so the zeroing is never
 * observed: this subclass takes its buffers from Node's pool (`Buffer.allocUnsafe`: slices of a
 * shared 8 KB slab below 4 KB) instead, and writes the very same bytes. It replaces kafkajs'
 * encoder module in Node's module cache before kafkajs loads (`replaceKafkajsModule`); if it
 * cannot, kafkajs' own runs (`kafkajsEncoderPatched()` says so).
 */
import { replaceKafkajsModule } from './kafkajs-patch.js';

interface EncoderClass {
  new (initialSize?: number): { buf: Buffer; offset: number };
  nextPowerOfTwo(value: number): number;
}

/** kafkajs' Encoder with pooled buffers (`Original`: kafkajs' class). */
export function pooledEncoder(Original: EncoderClass): EncoderClass {
  return class PooledEncoder extends Original {
    constructor(initialSize = 511) {
      // The smallest buffer (on V8's heap), replaced at once.
      super(1);
      this.buf = Buffer.allocUnsafe(Original.nextPowerOfTwo(initialSize));
    }

    ensureAvailable(length: number): void {
      if (this.offset + length > this.buf.length) {
        const grown = Buffer.allocUnsafe(Original.nextPowerOfTwo(this.offset + length));
        this.buf.copy(grown, 0, 0, this.offset);
        this.buf = grown;
      }
    }
  };
}

const patched = replaceKafkajsModule({
  target: 'kafkajs/src/protocol/encoder.js',
  requiredBy: 'kafkajs/src/index.js',
  arity: 0,
  replacement: { from: pooledEncoder },
});

/** Whether kafkajs encodes with the pooled encoder above. */
export function kafkajsEncoderPatched(): boolean {
  return patched;
}
