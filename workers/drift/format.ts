import type { StatReport, WindowReport } from './evaluate.js';
import type { DriftSnapshot } from './monitor.js';

const BARS = '▁▂▃▄▅▆▇█';

/** Bin shares as a sparkline; both sides of a comparison share one scale (`max`). */
export function sparkline(shares: readonly number[], max: number): string {
  return shares
    .map((s) =>
      s <= 0 ? ' ' : BARS[Math.min(BARS.length - 1, Math.floor((s / max) * (BARS.length - 1e-9)))]!,
    )
    .join('');
}

const pct = (v: number) => `${(v * 100).toFixed(v > 0 && v < 0.001 ? 3 : 1)} %`;
const num = (v: number | null) => (v === null ? '–' : v < 0.001 ? v.toExponential(2) : v.toFixed(4));

/** One worker's view of one pipeline, as `streamscore drift` prints it. */
export function formatDrift(worker: string, snap: DriftSnapshot, windows: number): string {
  const out: string[] = [];
  out.push(`pipeline   ${snap.pipeline}   (worker ${worker})`);
  out.push(
    `windows    ${snap.window.events} rows or ${snap.window.maxSeconds} s (at least ${snap.window.minEvents} rows); PSI vs the manifest's reference; BH false-discovery rate ${snap.fdr}`,
  );
  if (snap.versions.length === 0) out.push('', 'no batch scored yet');
  for (const v of snap.versions) {
    out.push('');
    const sha = v.sha256 ? ` sha256 ${v.sha256.slice(0, 12)}` : '';
    out.push(`model      ${v.model}/${v.version}${sha}${v.current ? '' : '  (previous version)'}`);
    if (!v.monitored) {
      out.push('           not watched: its manifest has no distributions');
      continue;
    }
    if (v.open) out.push(`open       since ${v.open.startedAt}, ${v.open.events} rows so far`);
    const shown = v.windows.slice(-windows);
    const latest = shown.at(-1);
    if (latest === undefined) {
      out.push('           no window closed yet');
      continue;
    }
    out.push(
      `latest     window ${latest.seq}: ${latest.startedAt} → ${latest.endedAt}, ${latest.events} rows (closed by ${latest.closedBy}), ${latest.alarms} alarm${latest.alarms === 1 ? '' : 's'}`,
    );
    out.push('');
    out.push(...statTable(latest, shown));
  }
  return `${out.join('\n')}\n`;
}

function statTable(latest: WindowReport, shown: readonly WindowReport[]): string[] {
  const rows = latest.stats.map((s) => {
    const windowShares = s.window.map((c) => (s.n > 0 ? c / s.n : 0));
    const reference = s.window.map((_, i) => s.reference[i] ?? 0); // the "other" bin has none
    const max = Math.max(...reference, ...windowShares, 1e-12);
    const history = shown
      .map((w) => w.stats.find((x) => x.feature === s.feature))
      .map((x) => (x === undefined || x.statistic === null ? '·' : x.alarm ? '!' : '·'))
      .join('');
    return [
      s.role === 'output' ? `${s.feature} (output)` : s.feature,
      sparkline(reference, max),
      sparkline(windowShares, max),
      num(s.statistic),
      num(s.threshold),
      s.alarm ? 'ALARM' : 'no',
      pct(s.nullRate),
      pct(s.outOfRangeRate),
      history,
      binNote(s),
    ];
  });
  const head = [
    'feature',
    'reference',
    'window',
    'PSI',
    'threshold',
    'alarm',
    'null',
    'out of range',
    'history',
    'bins',
  ];
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => [...r[i]!].length)));
  return all.map((r) =>
    r
      .map((c, i) => c + ' '.repeat(widths[i]! - [...c].length))
      .join('  ')
      .trimEnd(),
  );
}

function binNote(s: StatReport): string {
  if (s.values !== undefined)
    return `${s.values.join(' | ')}${s.window.length > s.values.length ? ' | other' : ''}`;
  const e = s.edges ?? [];
  if (e.length === 0) return 'one bin';
  const f = (v: number) => String(Number(v.toPrecision(4)));
  return `≤${f(e[0]!)} … >${f(e.at(-1)!)} (${e.length + 1} quantile bins)`;
}
