import avro from 'avsc';
import { int64FromBigInt } from '../../core/int64.js';

/**
 * An avsc `long` that takes the full int64 range exactly: a number (safe integer) or a bigint, as
 * everywhere in streamscore (see `core/int64.ts`). avsc's own long refuses values beyond 2^53; a
 * bigint key of a prediction must reach the topic as the same integer it was read as.
 * Built with `noUnpack`: the methods see the zigzag varint bytes themselves.
 */
export const exactLong = avro.types.LongType.__with(
  {
    fromBuffer: (buf: Buffer) => readZigzag(buf),
    toBuffer: (v: number | bigint) => writeZigzag(v),
    fromJSON: (v: unknown) => (typeof v === 'string' ? int64FromBigInt(BigInt(v)) : v),
    toJSON: (v: number | bigint) => (typeof v === 'bigint' ? v.toString() : v),
    isValid: (v: unknown) =>
      (typeof v === 'number' && Number.isSafeInteger(v)) ||
      (typeof v === 'bigint' && v >= -(2n ** 63n) && v < 2n ** 63n),
    compare: (a: number | bigint, b: number | bigint) => (a < b ? -1 : a > b ? 1 : 0),
  },
  true,
);

function writeZigzag(v: number | bigint): Buffer {
  if (typeof v === 'number' && Math.abs(v) < 2 ** 52) {
    // Zigzag in a double stays exact below 2^53.
    let u = v >= 0 ? v * 2 : -v * 2 - 1;
    const out: number[] = [];
    while (u >= 128) {
      out.push((u % 128) | 0x80);
      u = Math.floor(u / 128);
    }
    out.push(u);
    return Buffer.from(out);
  }
  const n = BigInt(v);
  let u = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
  const out: number[] = [];
  while (u >= 0x80n) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
  return Buffer.from(out);
}

function readZigzag(buf: Buffer): number | bigint {
  let u = 0n;
  let shift = 0n;
  for (const b of buf) {
    u |= BigInt(b & 0x7f) << shift;
    shift += 7n;
  }
  u = BigInt.asUintN(64, u);
  return int64FromBigInt((u >> 1n) ^ -(u & 1n));
}

/** An avsc type for an Avro schema whose longs are exact (see `exactLong`). */
export function exactAvroType(schema: unknown): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { registry: { long: exactLong } });
}
