/** Small numeric helpers for the report. */

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median with min/max of repeated runs (nulls are failed runs and are left out). */
export function summarize(xs: readonly (number | null | undefined)[]): {
  median: number | null;
  min: number | null;
  max: number | null;
  runs: number;
} {
  const ok = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return {
    median: median(ok),
    min: ok.length ? Math.min(...ok) : null,
    max: ok.length ? Math.max(...ok) : null,
    runs: ok.length,
  };
}

export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || !Number.isFinite(b) || b === 0)
    return null;
  return Math.round((a / b) * 1000) / 1000;
}

/** Rounds every number in a JSON-able value to a few significant decimals (readable output). */
export function tidy<T>(v: T): T {
  return JSON.parse(
    JSON.stringify(v, (_k, x) => {
      if (typeof x === 'bigint') return Number(x);
      if (typeof x !== 'number' || Number.isInteger(x)) return x;
      const abs = Math.abs(x);
      const digits = abs >= 100 ? 0 : abs >= 1 ? 2 : 4;
      return Number(x.toFixed(digits));
    }),
  ) as T;
}
