/**
 * The pure statistics of a shadow report: Wilson intervals, percentiles, the Δscore histogram, the
 * verdict against declared limits and `--since` parsing. No I/O here, so each is unit-tested alone;
 * report.ts feeds them with aggregates computed in SQL (or in memory, for an offline check).
 */

/** z for a two-sided 95 % interval: the 0.975 quantile of the standard normal. */
export const Z95 = 1.959963984540054;

/** A proportion `k / n` with its 95 % Wilson score interval. */
export interface RateInterval {
  k: number;
  n: number;
  /** `k / n`; 0 when `n` is 0 (then the interval is the uninformative [0, 1]). */
  rate: number;
  low: number;
  high: number;
}

/**
 * Wilson score interval (no continuity correction) of `k` successes in `n` trials. Unlike the
 * normal approximation it stays inside [0, 1] and is not degenerate at k = 0 or k = n, which is the
 * usual case for a flip rate of a good challenger.
 */
export function wilsonInterval(k: number, n: number, z = Z95): RateInterval {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || n < 0 || k > n) {
    throw new RangeError(`wilsonInterval: expected integers 0 ≤ k ≤ n, got k=${k}, n=${n}`);
  }
  if (n === 0) return { k, n, rate: 0, low: 0, high: 1 };
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At k = 0 (k = n) the bound is 0 (1) exactly; rounding must not push it past.
  return {
    k,
    n,
    rate: p,
    low: k === 0 ? 0 : Math.max(0, centre - half),
    high: k === n ? 1 : Math.min(1, centre + half),
  };
}

/**
 * Percentile with linear interpolation between the closest ranks, the definition of Postgres'
 * `percentile_cont` (same operations, so the same double): `sorted` ascending, `p` in [0, 1].
 */
export function percentileCont(sorted: ArrayLike<number>, p: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const pos = p * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return lo === hi ? a : a + (pos - lo) * (b - a);
}

export interface HistogramBin {
  /** Inclusive lower edge. */
  from: number;
  /** Upper edge: exclusive, except for the last bin, which holds the maximum. */
  to: number;
  count: number;
}

export const HISTOGRAM_BINS = 10;

/**
 * Bin of `x` among `bins` equal-width bins over [lo, hi] (hi in the last bin). The formula is the one
 * report.ts runs in SQL, `floor((x - lo) / (hi - lo) * bins)` clamped, so both count alike.
 */
export function binIndex(x: number, lo: number, hi: number, bins = HISTOGRAM_BINS): number {
  if (!(hi > lo)) return 0;
  const i = Math.floor(((x - lo) / (hi - lo)) * bins);
  return Math.min(Math.max(i, 0), bins - 1);
}

/** The empty bins over [lo, hi]: one bin when every value is the same. */
export function histogramEdges(lo: number, hi: number, bins = HISTOGRAM_BINS): HistogramBin[] {
  if (!(hi > lo)) return [{ from: lo, to: hi, count: 0 }];
  const width = hi - lo;
  return Array.from({ length: bins }, (_, i) => ({
    from: i === 0 ? lo : lo + (width * i) / bins,
    to: i === bins - 1 ? hi : lo + (width * (i + 1)) / bins,
    count: 0,
  }));
}

/** Histogram of finite `values` in `bins` equal-width bins between their minimum and maximum. */
export function histogram(values: Iterable<number>, bins = HISTOGRAM_BINS): HistogramBin[] {
  const xs = [...values].filter(Number.isFinite);
  if (xs.length === 0) return [];
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of xs) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const out = histogramEdges(lo, hi, bins);
  for (const x of xs) out[binIndex(x, lo, hi, out.length)]!.count++;
  return out;
}

/** Text bars for a histogram, one line a bin: `[-0.05, -0.04)  ████████  123`. */
export function histogramBars(bins: readonly HistogramBin[], width = 40): string[] {
  const max = Math.max(0, ...bins.map((b) => b.count));
  const labels = bins.map(
    (b, i) => `[${formatNumber(b.from)}, ${formatNumber(b.to)}${i === bins.length - 1 ? ']' : ')'}`,
  );
  const pad = Math.max(0, ...labels.map((l) => l.length));
  return bins.map((b, i) => {
    const len = max === 0 ? 0 : Math.round((b.count / max) * width);
    const bar = b.count > 0 && len === 0 ? '▏' : '█'.repeat(len);
    return `${labels[i]!.padEnd(pad)}  ${bar.padEnd(width)}  ${b.count}`;
  });
}

/** Limits of `model.shadow.limits`; an unset limit is not checked. */
export interface ShadowLimits {
  max_flip_rate?: number | undefined;
  min_label_agreement?: number | undefined;
  max_abs_delta_p95?: number | undefined;
  min_samples?: number | undefined;
}

/** The schema's default; also used when a report is asked for without limits. */
export const DEFAULT_MIN_SAMPLES = 1000;

export type Verdict = 'pass' | 'fail' | 'insufficient';

export interface VerdictInput {
  flipRate: RateInterval;
  labelAgreement?: RateInterval | undefined;
  absDeltaP95: number | null;
}

/**
 * The plain verdict: 'insufficient' while fewer than `min_samples` pairs were compared (for a label
 * limit: labelled pairs), else 'fail' naming every limit exceeded ("flip rate 3.1 % > 2 %"), else
 * 'pass'. Limits are checked against the point estimates; the report shows the intervals beside them.
 */
export function shadowVerdict(
  m: VerdictInput,
  limits: ShadowLimits,
): { verdict: Verdict; reasons: string[] } {
  const min = limits.min_samples ?? DEFAULT_MIN_SAMPLES;
  const short: string[] = [];
  if (m.flipRate.n < min) short.push(`${m.flipRate.n} compared pairs < ${min} (min_samples)`);
  if (limits.min_label_agreement !== undefined) {
    const n = m.labelAgreement?.n ?? 0;
    if (m.labelAgreement === undefined) short.push('min_label_agreement is set but compare.label is not');
    else if (n < min) short.push(`${n} labelled pairs < ${min} (min_samples)`);
  }
  if (short.length > 0) return { verdict: 'insufficient', reasons: short };

  const failed: string[] = [];
  if (limits.max_flip_rate !== undefined && m.flipRate.rate > limits.max_flip_rate) {
    failed.push(`flip rate ${formatPercent(m.flipRate.rate)} > ${formatPercent(limits.max_flip_rate)}`);
  }
  if (
    limits.min_label_agreement !== undefined &&
    m.labelAgreement !== undefined &&
    m.labelAgreement.rate < limits.min_label_agreement
  ) {
    failed.push(
      `label agreement ${formatPercent(m.labelAgreement.rate)} < ${formatPercent(limits.min_label_agreement)}`,
    );
  }
  if (
    limits.max_abs_delta_p95 !== undefined &&
    m.absDeltaP95 !== null &&
    m.absDeltaP95 > limits.max_abs_delta_p95
  ) {
    failed.push(`|Δscore| p95 ${formatNumber(m.absDeltaP95)} > ${formatNumber(limits.max_abs_delta_p95)}`);
  }
  return failed.length > 0 ? { verdict: 'fail', reasons: failed } : { verdict: 'pass', reasons: [] };
}

/** `0.031` → `3.1 %`, `0.02` → `2 %`, `0.00123` → `0.12 %` (at most two decimals, no trailing zeros). */
export function formatPercent(rate: number): string {
  return `${trimZeros((rate * 100).toFixed(2))} %`;
}

/** Four significant digits, no trailing zeros, no exponent for ordinary magnitudes. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 1e-4 && abs < 1e9) return String(Number(x.toPrecision(4)));
  return x.toPrecision(4);
}

function trimZeros(fixed: string): string {
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * `--since`: a duration back from `now` (`90s`, `30m`, `2h`, `1d`, `1w`, or combined: `1h30m`), or an
 * ISO-8601 date (`2026-01-31`, midnight UTC) or date-time with a zone (`2026-01-31T08:00:00Z`,
 * `…+01:00`). A date-time without a zone is refused: its meaning would depend on the machine's zone.
 */
export function parseSince(text: string, now: Date = new Date()): Date {
  const t = text.trim();
  if (/^(\d+(\.\d+)?[smhdw])+$/.test(t)) {
    let ms = 0;
    for (const m of t.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    return new Date(now.getTime() - ms);
  }
  const date = /^\d{4}-\d{2}-\d{2}$/.test(t);
  const dateTime = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$/i.exec(t);
  if (date || dateTime) {
    if (dateTime && dateTime[3] === undefined) {
      throw new RangeError(
        `--since ${text}: a date-time needs a zone, e.g. ${t}Z or ${t}+01:00 (or give a date, or a duration like 2h)`,
      );
    }
    const [y, mo, d] = t.slice(0, 10).split('-').map(Number) as [number, number, number];
    const real = new Date(Date.UTC(y, mo - 1, d)).getUTCDate() === d; // Date.parse takes 02-31 as 03-03
    const ms = Date.parse(t.replace(' ', 'T'));
    if (real && Number.isFinite(ms)) return new Date(ms);
  }
  throw new RangeError(
    `--since ${text}: expected a duration like 30m, 2h, 1d or 1h30m, or an ISO time like 2026-01-31T08:00:00Z`,
  );
}
