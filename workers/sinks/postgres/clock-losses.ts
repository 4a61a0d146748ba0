import { POSITION_SHIFT, positionTiebreak, positionTimeUs } from '../../core/position.js';
import type { PredictionBatch, PredictionRow } from '../../core/types.js';
import { quoteIdent } from '../shared/identifiers.js';
import { pgCast } from '../shared/sql-types.js';
import { columnArrays } from '../shared/values.js';
import { pgArrayLiteral } from './array-literal.js';
import type { Statement } from './statements.js';
import { POSITION, type PostgresTablePlan } from './table.js';

/**
 * A change the order guard discarded although the source's WAL orders it after the stored row:
 * its LSN is above the stored row's while its commit time lies before — the source's clock stepped
 * backwards, and the worker that held the partition's time (decode/debezium/clock-steps.ts) had
 * restarted or handed the partition over in between. Two changes of one key from one database
 * commit in the order of their change LSNs (the second waits for the first's row lock), so this is
 * a lost change, not a replay: a replay's position equals or trails the stored one in both parts.
 */
export interface ClockLoss {
  key: unknown;
  /** The discarded change's position (commit µs × 10^20 + LSN). */
  position: bigint;
  /** The stored row's. */
  stored: bigint;
}

/**
 * Of `rows` (just upserted; some were discarded), those whose stored row has a greater position with
 * a smaller LSN (both non-zero: stream changes, not backfill reads). Run only when a write wrote
 * fewer rows than it was given. LSNs of two source databases routed into one table are not
 * comparable: there a report may be spurious.
 */
export function clockLossStatement(
  plan: PostgresTablePlan,
  batch: PredictionBatch,
  rows: readonly PredictionRow[],
): Statement {
  const keys = plan.keyColumns;
  const pos = quoteIdent(POSITION);
  const cols = keys.map((_, i) => `k${i}`);
  const params = keys.map((k) => `?::${pgCast(k.type)}[]`).join(', ');
  const match = keys.map((k, i) => `t.${quoteIdent(k.name)} = a.k${i}`).join(' AND ');
  const shift = POSITION_SHIFT.toString();
  const sql =
    `SELECT a.i::int AS i, t.${pos}::text AS stored FROM unnest(${params}, ?::numeric[]) WITH ORDINALITY AS a(${cols.join(', ')}, p, i) ` +
    `JOIN ${plan.quoted} AS t ON ${match} ` +
    `WHERE t.${pos} > a.p AND mod(a.p, ${shift}) > mod(t.${pos}, ${shift}) AND mod(t.${pos}, ${shift}) > 0`;
  return {
    sql,
    bindings: [
      ...columnArrays(keys, batch, rows).map(pgArrayLiteral),
      pgArrayLiteral(rows.map((r) => r.position.toString())),
    ],
  };
}

/** The losses a `clockLossStatement` found, with their rows' keys and positions. */
export function clockLosses(
  rows: readonly PredictionRow[],
  found: readonly { i: number; stored: string }[],
): ClockLoss[] {
  return found.map((f) => {
    const row = rows[f.i - 1]!;
    return { key: row.key, position: row.position, stored: BigInt(f.stored) };
  });
}

/** What the sink logs of a write's losses: their count and the first five (key, LSNs, times). */
export function clockLossFields(losses: readonly ClockLoss[]): {
  count: number;
  first: Record<string, string>[];
} {
  const iso = (p: bigint) => new Date(Number(positionTimeUs(p) / 1000n)).toISOString();
  return {
    count: losses.length,
    first: losses.slice(0, 5).map((l) => ({
      key: String(l.key),
      lsn: String(positionTiebreak(l.position)),
      commit_time: iso(l.position),
      stored_lsn: String(positionTiebreak(l.stored)),
      stored_time: iso(l.stored),
    })),
  };
}

export const CLOCK_LOSS_MESSAGE =
  'Changes discarded by the order guard though the WAL orders them after the stored rows (their LSN, or Kafka offset ' +
  "for plain topics, is higher): the source's clock stepped backwards, across a restart or rebalance of the partition's worker. Their keys " +
  "keep older predictions until they change again: once the source's clock is past stored_time, re-score " +
  'them: streamscore backfill <pipeline> --since <commit_time>.';
