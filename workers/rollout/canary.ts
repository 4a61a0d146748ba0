import { exactKeyText } from '../core/int64.js';

/**
 * The key's bucket in [0, 10000): FNV-1a (32 bits) of its canonical text, finalised. Deterministic across
 * processes, versions and restarts, so a key always lands on the same side of a canary split
 * (an int64 key is the same bucket whether it was read as a number or a bigint).
 */
export function keyBucket(key: unknown): number {
  const text = exactKeyText(key);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // murmur3's finaliser: spreads short, similar keys (1, 2, 3 …) over every bucket.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % 10000;
}

/** Whether a key belongs to the canary's `percent` share (0–100, two decimals). */
export function inCanary(key: unknown, percent: number): boolean {
  return keyBucket(key) < Math.round(percent * 100);
}
