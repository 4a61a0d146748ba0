import type { BackfillSpec } from './create.js';
import type { BackfillFilter } from './reader.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * `--since`: a duration back from `now` (`90m`, `24h`, `7d`, `2w`) or an ISO-8601 date/instant
 * (a date alone is midnight UTC). Returns the instant as an ISO string.
 */
export function parseSince(text: string, now: Date): string {
  const d = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (d) return new Date(now.getTime() - Number(d[1]) * UNITS[d[2]!]!).toISOString();
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}(:?\d{2})?)?)?$/.test(text.trim())) {
    const t = Date.parse(/T| /.test(text) && !/(Z|[+-]\d{2}(:?\d{2})?)$/.test(text) ? `${text}Z` : text);
    if (!Number.isNaN(t)) return new Date(t).toISOString();
  }
  throw new Error(
    `--since: expected a duration like 24h or 7d, or an ISO date/time like 2026-11-01T00:00:00Z, got '${text}'`,
  );
}

/** The run's filter: the pipeline's `where`, then the operator's, and the since-window. */
export function resolveFilter(
  spec: BackfillSpec,
  extra: { where?: readonly string[]; since?: string | undefined },
  now: Date,
): BackfillFilter {
  const where = [...(spec.where ? [spec.where] : []), ...(extra.where ?? [])].filter((w) => w.trim() !== '');
  return { where, since: extra.since === undefined ? null : parseSince(extra.since, now) };
}
