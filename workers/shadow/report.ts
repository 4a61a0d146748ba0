import type { Knex } from 'knex';
import { Secret } from '../core/secret.js';
import { createPostgresKnex } from '../sinks/postgres/client.js';
import { quoteIdent } from '../sinks/shared/identifiers.js';
import type { ShadowCompare } from './config.js';
import {
  binIndex,
  formatNumber,
  formatPercent,
  HISTOGRAM_BINS,
  type HistogramBin,
  histogramBars,
  histogramEdges,
  percentileCont,
  type RateInterval,
  type ShadowLimits,
  shadowVerdict,
  type Verdict,
  wilsonInterval,
} from './stats.js';
import { shadowTableSql } from './table.js';

export interface ShadowVersionPair {
  champion: string;
  shadow: string;
  n: number;
  first: string;
  last: string;
}

export interface ShadowReport {
  table: string;
  /** ISO time of `--since`; undefined = every row. */
  since?: string | undefined;
  /** Pairs in the window. */
  n: number;
  /** Label agreement over pairs where both labels are set (when compare.label is set). */
  labelAgreement?: RateInterval | undefined;
  /** Decision flips at `threshold` over pairs where both scores are finite (`flipRate.n`). */
  flipRate: RateInterval;
  threshold: number;
  /** |shadow − champion| over the same pairs; null without any. */
  absDelta: { p50: number | null; p95: number | null; max: number | null };
  /** Δ = shadow − champion, equal-width bins from its minimum to its maximum. */
  histogram: HistogramBin[];
  /** Inference time of one batch (each batch counted once), in ms. */
  championMs?: { p50: number; p95: number } | undefined;
  shadowMs?: { p50: number; p95: number } | undefined;
  versions: ShadowVersionPair[];
  limits: ShadowLimits;
  verdict: Verdict;
  reasons: string[];
  /** Things the reader should know that are not a verdict (e.g. the table does not exist yet). */
  notes: string[];
}

/** One stored pair, as the offline computation needs it. */
export interface ShadowPairRow {
  championScore: number | null;
  shadowScore: number | null;
  championLabel: string | null;
  shadowLabel: string | null;
  championMs: number | null;
  shadowMs: number | null;
  championVersion: string;
  shadowVersion: string;
  scoredAt: Date;
}

export interface ShadowReportOptions {
  compare: ShadowCompare;
  limits: ShadowLimits;
  since?: Date | undefined;
  bins?: number;
}

/** What SQL (or the offline computation) aggregates; the report adds intervals and the verdict. */
interface Aggregates {
  n: number;
  compared: number;
  flips: number;
  labelled: number;
  agree: number;
  absDelta: ShadowReport['absDelta'];
  histogram: HistogramBin[];
  championMs: ShadowReport['championMs'];
  shadowMs: ShadowReport['shadowMs'];
  versions: ShadowVersionPair[];
}

function assemble(
  table: string,
  agg: Aggregates,
  o: ShadowReportOptions,
  notes: string[] = [],
): ShadowReport {
  const flipRate = wilsonInterval(agg.flips, agg.compared);
  const labelAgreement = o.compare.label === undefined ? undefined : wilsonInterval(agg.agree, agg.labelled);
  const { verdict, reasons } = shadowVerdict(
    { flipRate, labelAgreement, absDeltaP95: agg.absDelta.p95 },
    o.limits,
  );
  if (agg.versions.length > 1) {
    notes.push(
      `${agg.versions.length} version pairs in this window: the figures mix them (narrow it with --since)`,
    );
  }
  return {
    table,
    since: o.since?.toISOString(),
    n: agg.n,
    labelAgreement,
    flipRate,
    threshold: o.compare.threshold,
    absDelta: agg.absDelta,
    histogram: agg.histogram,
    championMs: agg.championMs,
    shadowMs: agg.shadowMs,
    versions: agg.versions,
    limits: o.limits,
    verdict,
    reasons,
    notes,
  };
}

const finite = (x: number | null): x is number => x !== null && Number.isFinite(x);

/**
 * The report computed in memory from stored pairs: the same definitions as `queryShadowReport`
 * (which aggregates in SQL), for tests and for callers that already hold the rows.
 */
export function computeShadowReport(
  table: string,
  rows: readonly ShadowPairRow[],
  o: ShadowReportOptions,
): ShadowReport {
  const inWindow = o.since === undefined ? rows : rows.filter((r) => r.scoredAt >= o.since!);
  const t = o.compare.threshold;
  const deltas: number[] = [];
  let flips = 0;
  let labelled = 0;
  let agree = 0;
  const batches = new Map<string, ShadowPairRow>();
  const versions = new Map<string, ShadowVersionPair>();
  for (const r of inWindow) {
    if (finite(r.championScore) && finite(r.shadowScore)) {
      deltas.push(r.shadowScore - r.championScore);
      if (r.championScore >= t !== r.shadowScore >= t) flips++;
    }
    if (r.championLabel !== null && r.shadowLabel !== null) {
      labelled++;
      if (r.championLabel === r.shadowLabel) agree++;
    }
    batches.set(batchKey(r), r);
    const vk = `${r.championVersion}\u0000${r.shadowVersion}`;
    const at = r.scoredAt.toISOString();
    const v = versions.get(vk);
    if (v === undefined) {
      versions.set(vk, { champion: r.championVersion, shadow: r.shadowVersion, n: 1, first: at, last: at });
    } else {
      v.n++;
      if (at < v.first) v.first = at;
      if (at > v.last) v.last = at;
    }
  }
  const abs = deltas.map(Math.abs).sort((a, b) => a - b);
  const bins = o.bins ?? HISTOGRAM_BINS;
  let histogram: HistogramBin[] = [];
  if (deltas.length > 0) {
    const lo = Math.min(...deltas);
    const hi = Math.max(...deltas);
    histogram = histogramEdges(lo, hi, bins);
    for (const d of deltas) histogram[binIndex(d, lo, hi, histogram.length)]!.count++;
  }
  const ms = (pick: (r: ShadowPairRow) => number | null) => {
    const xs = [...batches.values()]
      .map(pick)
      .filter(finite)
      .sort((a, b) => a - b);
    return xs.length === 0 ? undefined : { p50: percentileCont(xs, 0.5)!, p95: percentileCont(xs, 0.95)! };
  };
  return assemble(
    table,
    {
      n: inWindow.length,
      compared: deltas.length,
      flips,
      labelled,
      agree,
      absDelta: {
        p50: percentileCont(abs, 0.5),
        p95: percentileCont(abs, 0.95),
        max: abs.length === 0 ? null : abs[abs.length - 1]!,
      },
      histogram,
      championMs: ms((r) => r.championMs),
      shadowMs: ms((r) => r.shadowMs),
      versions: [...versions.values()].sort((a, b) => a.first.localeCompare(b.first)),
    },
    o,
  );
}

/** A batch is its scored_at, versions and timings: every row of one batch shares them. */
function batchKey(r: ShadowPairRow): string {
  return [r.scoredAt.getTime(), r.championVersion, r.shadowVersion, r.championMs, r.shadowMs].join('\u0000');
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * The report over the comparison table, aggregated in Postgres (counts, `percentile_cont`, the
 * histogram's bins) inside one read-only REPEATABLE READ transaction, so every figure describes the
 * same rows while workers keep writing. A table that does not exist yet is an empty report.
 */
export async function queryShadowReport(
  url: string,
  table: string,
  o: ShadowReportOptions,
): Promise<ShadowReport> {
  const knex = createPostgresKnex(
    { url: new Secret(url), pool_size: 1 },
    { applicationName: 'streamscore-shadow-report' },
  );
  try {
    const { quoted } = shadowTableSql(table);
    const exists = await knex.raw<{ rows: { t: string | null }[] }>('SELECT to_regclass(?) AS t', [quoted]);
    if (exists.rows[0]?.t === null || exists.rows[0]?.t === undefined) {
      return assemble(table, emptyAggregates(), o, [
        `table ${table} does not exist yet (no worker has run with model.shadow against this database)`,
      ]);
    }
    const agg = await knex.transaction(async (trx) => aggregate(trx, quoted, o), {
      isolationLevel: 'repeatable read',
      readOnly: true,
    });
    return assemble(table, agg, o);
  } finally {
    await knex.destroy();
  }
}

function emptyAggregates(): Aggregates {
  return {
    n: 0,
    compared: 0,
    flips: 0,
    labelled: 0,
    agree: 0,
    absDelta: { p50: null, p95: null, max: null },
    histogram: [],
    championMs: undefined,
    shadowMs: undefined,
    versions: [],
  };
}

async function aggregate(trx: Knex.Transaction, quoted: string, o: ShadowReportOptions): Promise<Aggregates> {
  const q = quoteIdent;
  const [cs, ss, cl, sl] = ['champion_score', 'shadow_score', 'champion_label', 'shadow_label'].map(q) as [
    string,
    string,
    string,
    string,
  ];
  const where = o.since === undefined ? '' : `WHERE ${q('scored_at')} >= ?::timestamptz`;
  const sinceBinding = o.since === undefined ? [] : [o.since.toISOString()];
  // Pairs whose scores are both finite: NaN sorts above every number in Postgres (NaN >= t is true
  // there, false in JS), so such a pair is left out of the flip rate and the deltas on both sides.
  const pairs =
    `(SELECT *, ${ss} - ${cs} AS d, (abs(${cs}) < 'Infinity'::float8 AND abs(${ss}) < 'Infinity'::float8) AS fin ` +
    `FROM ${quoted} ${where}) p`;
  const main = await trx.raw<{ rows: Record<string, unknown>[] }>(
    `SELECT count(*) AS n, count(*) FILTER (WHERE fin) AS compared, ` +
      `count(*) FILTER (WHERE fin AND (${cs} >= ?::float8) <> (${ss} >= ?::float8)) AS flips, ` +
      `count(*) FILTER (WHERE ${cl} IS NOT NULL AND ${sl} IS NOT NULL) AS labelled, ` +
      `count(*) FILTER (WHERE ${cl} = ${sl}) AS agree, ` +
      `percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(d)) FILTER (WHERE fin) AS p50, ` +
      `percentile_cont(0.95) WITHIN GROUP (ORDER BY abs(d)) FILTER (WHERE fin) AS p95, ` +
      `max(abs(d)) FILTER (WHERE fin) AS max, min(d) FILTER (WHERE fin) AS lo, max(d) FILTER (WHERE fin) AS hi ` +
      `FROM ${pairs}`,
    [o.compare.threshold, o.compare.threshold, ...sinceBinding],
  );
  const m = main.rows[0]!;
  const lo = num(m['lo']);
  const hi = num(m['hi']);
  const compared = Number(m['compared']);
  let histogram: HistogramBin[] = [];
  if (lo !== null && hi !== null) {
    histogram = histogramEdges(lo, hi, o.bins ?? HISTOGRAM_BINS);
    if (histogram.length === 1) histogram[0]!.count = compared;
    else {
      // binIndex's formula, in the same float8 operations.
      const bins = await trx.raw<{ rows: { b: number; c: string }[] }>(
        `SELECT least(greatest(floor((d - ?::float8) / (?::float8 - ?::float8) * ?::float8), 0), ?::float8 - 1)::int AS b, ` +
          `count(*) AS c FROM ${pairs} WHERE fin GROUP BY 1`,
        [lo, hi, lo, histogram.length, histogram.length, ...sinceBinding],
      );
      for (const r of bins.rows) histogram[r.b]!.count = Number(r.c);
    }
  }
  const ms = await trx.raw<{ rows: Record<string, unknown>[] }>(
    `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ${q('champion_ms')}) AS c50, ` +
      `percentile_cont(0.95) WITHIN GROUP (ORDER BY ${q('champion_ms')}) AS c95, ` +
      `percentile_cont(0.5) WITHIN GROUP (ORDER BY ${q('shadow_ms')}) AS s50, ` +
      `percentile_cont(0.95) WITHIN GROUP (ORDER BY ${q('shadow_ms')}) AS s95 ` +
      `FROM (SELECT DISTINCT ${['scored_at', 'champion_version', 'shadow_version', 'champion_ms', 'shadow_ms'].map(q).join(', ')} ` +
      `FROM ${quoted} ${where}) b`,
    sinceBinding,
  );
  const t = ms.rows[0]!;
  const pair = (a: unknown, b: unknown) => {
    const p50 = num(a);
    const p95 = num(b);
    return p50 === null || p95 === null ? undefined : { p50, p95 };
  };
  const versions = await trx.raw<{ rows: { c: string; s: string; n: string; first: Date; last: Date }[] }>(
    `SELECT ${q('champion_version')} AS c, ${q('shadow_version')} AS s, count(*) AS n, ` +
      `min(${q('scored_at')}) AS first, max(${q('scored_at')}) AS last FROM ${quoted} ${where} ` +
      `GROUP BY 1, 2 ORDER BY 4, 1, 2`,
    sinceBinding,
  );
  return {
    n: Number(m['n']),
    compared,
    flips: Number(m['flips']),
    labelled: Number(m['labelled']),
    agree: Number(m['agree']),
    absDelta: { p50: num(m['p50']), p95: num(m['p95']), max: num(m['max']) },
    histogram,
    championMs: pair(t['c50'], t['c95']),
    shadowMs: pair(t['s50'], t['s95']),
    versions: versions.rows.map((r) => ({
      champion: r.c,
      shadow: r.s,
      n: Number(r.n),
      first: new Date(r.first).toISOString(),
      last: new Date(r.last).toISOString(),
    })),
  };
}

function interval(r: RateInterval): string {
  return `${formatPercent(r.rate)}  (95 % CI ${formatPercent(r.low)} – ${formatPercent(r.high)}; ${r.k} of ${r.n})`;
}

const ms = (x: { p50: number; p95: number } | undefined) =>
  x === undefined ? '—' : `p50 ${formatNumber(x.p50)}  p95 ${formatNumber(x.p95)}`;

/** The report for a terminal: figures, the Δ histogram as text bars, then the verdict and why. */
export function formatShadowReport(r: ShadowReport): string {
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`${label.padEnd(17)}${value}`);
  row('table', r.table);
  row('window', r.since === undefined ? 'every row' : `since ${r.since}`);
  if (r.versions.length === 0) row('versions', '—');
  for (const [i, v] of r.versions.entries()) {
    row(
      i === 0 ? 'versions' : '',
      `champion ${v.champion} vs shadow ${v.shadow}: ${v.n} pairs, ${v.first} → ${v.last}`,
    );
  }
  row('pairs', `${r.n} (${r.flipRate.n} with both scores finite)`);
  if (r.labelAgreement !== undefined) row('label agreement', r.n === 0 ? '—' : interval(r.labelAgreement));
  row(`flips at ${formatNumber(r.threshold)}`, r.flipRate.n === 0 ? '—' : interval(r.flipRate));
  const d = r.absDelta;
  row(
    '|Δscore|',
    d.p50 === null
      ? '—'
      : `p50 ${formatNumber(d.p50)}  p95 ${formatNumber(d.p95!)}  max ${formatNumber(d.max!)}`,
  );
  row('ms per batch', `champion ${ms(r.championMs)}  ·  shadow ${ms(r.shadowMs)}`);
  if (r.histogram.length > 0) {
    lines.push('', 'Δ = shadow − champion');
    for (const bar of histogramBars(r.histogram)) lines.push(`  ${bar}`);
  }
  lines.push('');
  const limits = [
    r.limits.max_flip_rate === undefined ? undefined : `flip rate ≤ ${formatPercent(r.limits.max_flip_rate)}`,
    r.limits.min_label_agreement === undefined
      ? undefined
      : `label agreement ≥ ${formatPercent(r.limits.min_label_agreement)}`,
    r.limits.max_abs_delta_p95 === undefined
      ? undefined
      : `|Δscore| p95 ≤ ${formatNumber(r.limits.max_abs_delta_p95)}`,
    r.limits.min_samples === undefined ? undefined : `n ≥ ${r.limits.min_samples}`,
  ].filter((x) => x !== undefined);
  row('limits', limits.join(', ') || 'none');
  lines.push(`verdict: ${r.verdict.toUpperCase()}`);
  for (const reason of r.reasons) lines.push(`  - ${reason}`);
  for (const note of r.notes) lines.push(`note: ${note}`);
  return `${lines.join('\n')}\n`;
}
