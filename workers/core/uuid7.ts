import { randomFillSync } from 'node:crypto';

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
  /** An id's text, its dashes in place. */
  readonly #text = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');

  next(nowMs: number = Date.now()): string {
    if (this.#next === POOL_IDS) {
      randomFillSync(this.#pool);
      this.#next = 0;
    }
    const p = this.#pool;
    const o = 10 * this.#next++;
    const t = this.#text;
    const hi = Math.floor(nowMs / 0x10000);
    const lo = nowMs % 0x10000;
    hex(t, 0, (hi >>> 24) & 0xff);
    hex(t, 2, (hi >>> 16) & 0xff);
    hex(t, 4, (hi >>> 8) & 0xff);
    hex(t, 6, hi & 0xff);
    hex(t, 9, lo >>> 8);
    hex(t, 11, lo & 0xff);
    hex(t, 14, 0x70 | (p[o]! & 0x0f));
    hex(t, 16, p[o + 1]!);
    hex(t, 19, 0x80 | (p[o + 2]! & 0x3f));
    hex(t, 21, p[o + 3]!);
    for (let k = 0; k < 6; k++) hex(t, 24 + 2 * k, p[o + 4 + k]!);
    // One flat string (concatenating 21 pieces made a tree of 20 strings per id for the GC).
    return t.toString('latin1', 0, 36);
  }
}

const DIGITS = Buffer.from('0123456789abcdef', 'latin1');
function hex(t: Buffer, at: number, byte: number): void {
  t[at] = DIGITS[byte >>> 4]!;
  t[at + 1] = DIGITS[byte & 0x0f]!;
}

/** The smallest UUIDv7 of `ms` milliseconds before `id`'s time, or undefined when `id` is not a v7. */
export function uuid7Floor(id: string, ms: number): string | undefined {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7/i.test(id)) return undefined;
  const t = Math.max(0, Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16) - ms);
  const hex = t.toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}
