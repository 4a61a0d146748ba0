import type { PredictionRow } from '../../core/types.js';

/**
 * Keeps, per key, only the row with the highest position (on a tie, the later row in the batch).
 * A set-based upsert cannot touch one target row twice, and the newest change per key is the only
 * one that matters for the final state. The kept rows come back in the order their key first appeared.
 */
export function latestPerKey(
  rows: readonly PredictionRow[],
  identity: (row: PredictionRow) => unknown,
): PredictionRow[] {
  const slot = new Map<unknown, number>();
  const kept: PredictionRow[] = [];
  for (const row of rows) {
    const id = identity(row);
    const at = slot.get(id);
    if (at === undefined) {
      slot.set(id, kept.length);
      kept.push(row);
    } else if (row.position >= kept[at]!.position) {
      kept[at] = row;
    }
  }
  return kept;
}

/** Splits rows into upserts and deletes (`op === 'd'`), keeping their order. */
export function splitDeletes(rows: readonly PredictionRow[]): {
  upserts: PredictionRow[];
  deletes: PredictionRow[];
} {
  const upserts: PredictionRow[] = [];
  const deletes: PredictionRow[] = [];
  for (const row of rows) (row.op === 'd' ? deletes : upserts).push(row);
  return { upserts, deletes };
}
