import type { RunStatus } from './queues.js';

/** `42s`, `3m05s`, `1h02m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');

/** Rows per second over a sliding window of samples (rows done so far, at a time). */
export class RateMeter {
  private readonly samples: { at: number; rows: number }[] = [];
  constructor(private readonly windowMs = 10_000) {}

  add(at: number, rows: number): void {
    this.samples.push({ at, rows });
    while (this.samples.length > 2 && at - this.samples[1]!.at >= this.windowMs) this.samples.shift();
  }

  /** Undefined until two samples at least 500 ms apart exist. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at - first.at < 500) return undefined;
    return Math.max(0, ((last.rows - first.rows) * 1000) / (last.at - first.at));
  }
}

/**
 * One progress line: bar, chunks, rows, rate, ETA, failures. E.g.
 * `[#########-----------] 9/20 chunks  90,000/200,000 rows  12,400 rows/s  ETA 9s  0 failed`
 */
export function formatProgress(s: RunStatus, rate: number | undefined, width = 20): string {
  const finished = s.chunks.done + s.chunks.failed;
  const fraction = s.chunks.total === 0 ? 1 : finished / s.chunks.total;
  const filled = Math.min(width, Math.round(fraction * width));
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const rows = s.rows.done + s.rows.inFlight;
  const parts = [
    bar,
    `${finished}/${s.chunks.total} chunks`,
    `${int(rows)}/${int(Math.max(rows, s.rows.planned))} rows`,
  ];
  if (rate !== undefined) parts.push(`${int(rate)} rows/s`);
  const remaining = Math.max(0, s.rows.planned - rows);
  if (s.state === 'running' || s.state === 'finishing') {
    parts.push(rate ? `ETA ${formatDuration(remaining / rate)}` : 'ETA ?');
  } else {
    parts.push(s.state);
  }
  parts.push(`${s.chunks.failed} failed`);
  if (s.cancelledAt !== undefined && s.state !== 'cancelled') parts.push('cancelling');
  return parts.join('  ');
}

/** The multi-line text of `backfill status <run-id>`. */
export function formatStatus(s: RunStatus, now = Date.now()): string {
  const end = s.finishedAt ?? now;
  const seconds = (end - s.createdAt) / 1000;
  const rows = s.rows.done + s.rows.inFlight;
  const lines = [
    `run ${s.runId}  pipeline ${s.pipeline}  table ${s.table}  (${s.trigger})`,
    `  state     ${s.state}${s.reason ? `: ${s.reason}` : ''}`,
    `  started   ${new Date(s.createdAt).toISOString()}, ${formatDuration(seconds)} ${s.finishedAt ? 'in all' : 'ago'}`,
    `  chunks    ${s.chunks.done} done, ${s.chunks.failed} failed, ${s.chunks.active} active, ${s.chunks.pending} pending, of ${s.chunks.total}`,
    `  rows      ${int(rows)} of ${int(s.rows.planned)} planned${seconds > 0 ? ` (${int(rows / seconds)} rows/s overall)` : ''}`,
  ];
  if (s.deadLettered > 0) lines.push(`  dead letters ${int(s.deadLettered)}`);
  for (const f of s.failures) {
    lines.push(`  failed chunk ${f.index}${f.range ? ` ${f.range}` : ''}: ${f.reason}`);
  }
  return lines.join('\n');
}

/** One line per run for `backfill status` without a run id. */
export function formatRunLine(s: RunStatus): string {
  const rows = s.rows.done + s.rows.inFlight;
  return [
    s.runId.padEnd(44),
    s.state.padEnd(10),
    `${s.chunks.done + s.chunks.failed}/${s.chunks.total} chunks`.padEnd(16),
    `${int(rows)} rows`.padEnd(16),
    `${s.chunks.failed} failed`.padEnd(10),
    new Date(s.createdAt).toISOString(),
  ].join(' ');
}
