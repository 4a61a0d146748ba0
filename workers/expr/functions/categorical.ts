import { num, scalarText, str } from '../runtime.js';
import { T } from '../types.js';
import { returnsFixed } from './helpers.js';
import type { FunctionSpec } from './spec.js';

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * FNV-1a, 32 bits, over the UTF-8 bytes of `text` (lone surrogates as U+FFFD, like TextEncoder),
 * computed without allocating. Reproducible in any language: the same bytes give the same hash.
 */
export function fnv1a32(text: string): number {
  let h = FNV_OFFSET_BASIS;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME);
      continue;
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        h = Math.imul(h ^ (0xf0 | (cp >> 18)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | ((cp >> 12) & 0x3f)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | ((cp >> 6) & 0x3f)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | (cp & 0x3f)), FNV_PRIME);
        continue;
      }
      c = 0xfffd;
    }
    h = Math.imul(h ^ (0xe0 | (c >> 12)), FNV_PRIME);
    h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
  }
  return h >>> 0;
}

/** How many of the ascending `bounds` are <= x (binary search). */
export function bucketIndex(x: number, bounds: readonly number[]): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bounds[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export const CATEGORICAL: readonly FunctionSpec[] = [
  {
    name: 'bucket',
    theme: 'categorical',
    params: [
      { name: 'x', kind: 'number' },
      { name: 'bounds', kind: 'number_list' },
    ],
    returns: returnsFixed(T.int),
    description:
      'The bucket index of x: how many of the ascending boundaries are <= x, from 0 to their count. Null for null or NaN.',
    example: 'bucket(42, [18, 30, 45, 65])',
    result: '2',
    compile: ([x, bounds], ctx) => {
      const a = x!.ev;
      const b = bounds!.literal as readonly number[];
      const s = ctx.site(0);
      return (r) => {
        const v = a(r);
        if (v === null) return null;
        const n = num(v, s);
        return Number.isNaN(n) ? null : bucketIndex(n, b);
      };
    },
  },
  {
    name: 'one_hot',
    theme: 'categorical',
    params: [
      { name: 'x', kind: 'string' },
      { name: 'categories', kind: 'string_list' },
    ],
    returns: (_types, literals) => ({
      kind: 'vector',
      width: (literals[1] as readonly string[] | undefined)?.length ?? 0,
    }),
    returnsText: 'vector',
    description:
      'A vector with one column per category: 1 where x equals it, else 0; all zeros for null or an unlisted value. Must be the whole expression.',
    example: "one_hot('pro', ['basic', 'pro', 'enterprise'])",
    result: '[0,1,0]',
    compile: ([x, categories], ctx) => {
      const a = x!.ev;
      const cats = categories!.literal as readonly string[];
      const index = new Map(cats.map((c, i) => [c, i]));
      const width = cats.length;
      const s = ctx.site(0);
      return (r) => {
        const v = a(r);
        const out = new Array<number>(width).fill(0);
        if (v === null) return out;
        const i = index.get(str(v, s));
        if (i !== undefined) out[i] = 1;
        return out;
      };
    },
  },
  {
    name: 'hash_bucket',
    theme: 'categorical',
    params: [
      { name: 'x', kind: 'scalar' },
      { name: 'n', kind: 'positive_int' },
    ],
    returns: returnsFixed(T.int),
    description:
      'fnv1a32(utf8(to_string(x))) mod n, in [0, n): FNV-1a 32-bit (offset basis 2166136261, prime 16777619) of the UTF-8 text of x, so any language reproduces it. Null for null.',
    example: "hash_bucket('US', 32)",
    result: '25',
    compile: ([x, buckets], ctx) => {
      const a = x!.ev;
      const n = buckets!.literal as number;
      const s = ctx.site(0);
      return (r) => {
        const v = a(r);
        return v === null ? null : fnv1a32(scalarText(v, s)) % n;
      };
    },
  },
];
