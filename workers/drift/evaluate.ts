import type { WindowAccumulator } from './accumulator.js';
import { benjaminiHochberg, chiSquareIsf, chiSquareSf, psi, psiScale } from './statistic.js';

/** One feature's or output's comparison in one closed window. */
export interface StatReport {
  feature: string;
  role: 'feature' | 'output';
  /** Values compared (nulls excluded for outputs; features count their on_null defaults). */
  n: number;
  /** Reference rows (m). */
  m: number;
  /** Reference bins (B); the χ² has B − 1 degrees of freedom. */
  bins: number;
  /** PSI of the window against the reference; null when nothing was seen. */
  statistic: number | null;
  /** PSI level above which this feature alarms in this window (BH level as χ² quantile × (1/n + 1/m)). */
  threshold: number | null;
  pValue: number | null;
  alarm: boolean;
  nullRate: number;
  outOfRangeRate: number;
  /** Bin labels' basis: numeric edges, or the categories. */
  edges?: number[];
  values?: (number | string)[];
  /** Reference shares per bin, and the window's counts per bin (then the "other" bin for categories). */
  reference: number[];
  window: number[];
}

export interface WindowReport {
  pipeline: string;
  model: string;
  version: string;
  sha256?: string;
  /** 1 for the first window of this version in this process. */
  seq: number;
  startedAt: string;
  endedAt: string;
  closedBy: 'events' | 'time';
  /** Rows in the window (n). */
  events: number;
  /** Benjamini–Hochberg false-discovery rate across the window's features and outputs. */
  fdr: number;
  /** BH discoveries (alarms) in this window. */
  alarms: number;
  stats: StatReport[];
}

/**
 * Compares each stat of a closed window with its reference (PSI), turns PSI into a p-value through
 * PSI/(1/n + 1/m) ~ χ²(B − 1), and applies Benjamini–Hochberg at `fdr` across the window's stats.
 * Runs once per window, off the per-row path.
 */
export function evaluateWindow(
  acc: WindowAccumulator,
  fdr: number,
  meta: Omit<WindowReport, 'fdr' | 'alarms' | 'stats' | 'events'>,
): WindowReport {
  const plans = acc.plans;
  const stats: StatReport[] = [];
  const tested: number[] = [];
  const pValues: number[] = [];
  for (let k = 0; k < plans.length; k++) {
    const plan = plans[k]!;
    const ref = plan.reference;
    const bins = ref.counts.length;
    const extra = ref.kind === 'categorical' ? 1 : 0;
    const n = acc.seen[k]!;
    const m = plan.referenceRows;
    const window = Array.from(acc.counts.subarray(k * acc.stride, k * acc.stride + bins + extra));
    const rows = acc.rows;
    const s: StatReport = {
      feature: plan.name,
      role: plan.role,
      n,
      m,
      bins,
      statistic: null,
      threshold: null,
      pValue: null,
      alarm: false,
      nullRate: rows > 0 ? acc.nulls[k]! / rows : 0,
      outOfRangeRate: n > 0 ? acc.outOfRange[k]! / n : 0,
      ...(ref.kind === 'numeric' ? { edges: ref.edges } : { values: ref.values }),
      reference: ref.counts.map((c) => c / m),
      window,
    };
    if (n > 0 && bins > 1) {
      const statistic = psi(acc.counts, k * acc.stride, n, ref.counts, m, extra);
      s.statistic = statistic;
      s.pValue = chiSquareSf(statistic / psiScale(n, m), bins - 1);
      tested.push(stats.length);
      pValues.push(s.pValue);
    }
    stats.push(s);
  }
  const bh = benjaminiHochberg(pValues, fdr);
  let alarms = 0;
  tested.forEach((i, j) => {
    const s = stats[i]!;
    const level = bh.levels[j]!;
    s.threshold = psiScale(s.n, s.m) * chiSquareIsf(level, s.bins - 1);
    s.alarm = bh.k > 0 && s.pValue! <= level;
    if (s.alarm) alarms++;
  });
  return { ...meta, events: acc.rows, fdr, alarms, stats };
}
