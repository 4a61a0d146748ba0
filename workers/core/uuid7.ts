import { randomFillSync } from 'node:crypto';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const POOL_IDS = 256;

/**
 * UUIDv7 (RFC 9562 §5.7) ids: 48 bits of Unix time in ms, then 74 random bits. Time-ordered, so
 * the decision ids of an audit log arrive in index order (a GIN index on them appends near its
 * right edge instead of touching a random page per id, as random v4 ids do), and an id tells
 * roughly when its decision was made. Random bytes are drawn for 256 ids at a time.
 */
export class Uuid7Source {
  readonly #pool = Buffer.allocUnsafe(10 * POOL_IDS);
  #next = POOL_IDS;

  next(nowMs: number = Date.now()): string {
    if (this.#next === POOL_IDS) {
      randomFillSync(this.#pool);
      this.#next = 0;
    }
    const p = this.#pool;
    const o = 10 * this.#next++;
    const hi = Math.floor(nowMs / 0x10000);
    const lo = nowMs % 0x10000;
    return (
      HEX[(hi >>> 24) & 0xff]! +
      HEX[(hi >>> 16) & 0xff]! +
      HEX[(hi >>> 8) & 0xff]! +
      HEX[hi & 0xff]! +
      '-' +
      HEX[lo >>> 8]! +
      HEX[lo & 0xff]! +
      '-' +
      HEX[0x70 | (p[o]! & 0x0f)]! +
      HEX[p[o + 1]!]! +
      '-' +
      HEX[0x80 | (p[o + 2]! & 0x3f)]! +
      HEX[p[o + 3]!]! +
      '-' +
      HEX[p[o + 4]!]! +
      HEX[p[o + 5]!]! +
      HEX[p[o + 6]!]! +
      HEX[p[o + 7]!]! +
      HEX[p[o + 8]!]! +
      HEX[p[o + 9]!]!
    );
  }
}

/** The smallest UUIDv7 of `ms` milliseconds before `id`'s time, or undefined when `id` is not a v7. */
export function uuid7Floor(id: string, ms: number): string | undefined {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7/i.test(id)) return undefined;
  const t = Math.max(0, Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16) - ms);
  const hex = t.toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}
