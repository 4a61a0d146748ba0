import { PipelineError } from '../core/errors.js';
import { rawMessageOf } from '../core/raw-message.js';
import type { ChangeRecord, DecodedBatch } from '../core/types.js';

type Row = Record<string, unknown>;

/** The source table, read by key (the backfill's PostgresTableReader implements it). */
export interface RowLookup {
  /** The table's key columns, in the order `lookupColumns` takes them. */
  readonly keyColumns: readonly string[];
  /** Current values of `columns` for these key tuples, keyed by `keyText(tuple)`; missing rows absent. */
  lookupColumns(keys: readonly (readonly unknown[])[], columns: readonly string[]): Promise<Map<string, Row>>;
  keyText(values: readonly unknown[]): string;
}

/**
 * `unavailable_value: lookup`: fills the unchanged TOASTed columns Debezium left out of a batch's
 * records (`ChangeRecord.unavailable`) with the source table's values, one query per batch, so a
 * streamed update scores what a backfill of the row would. The table is read as it is now: an
 * unchanged column's value there is the event's own unless a later change altered it, and that
 * later change's event then scores again and wins by its position.
 * A record whose row is gone (deleted since) is dead-lettered: its later delete event removes the
 * prediction anyway. Lookup errors reject (the caller retries the batch).
 */
export async function fillUnavailable(
  batch: DecodedBatch,
  lookup: RowLookup,
  pipeline: string,
): Promise<number> {
  const pending = batch.records.filter((r) => r.unavailable !== undefined);
  if (pending.length === 0) return 0;
  const columns = [...new Set(pending.flatMap((r) => r.unavailable!))];
  const keys = pending.map((r) => lookup.keyColumns.map((k) => (r.root['after'] as Row)[k]));
  const found = await lookup.lookupColumns(keys, columns);
  const gone = new Set<ChangeRecord>();
  for (let i = 0; i < pending.length; i++) {
    const r = pending[i]!;
    const row = found.get(lookup.keyText(keys[i]!));
    if (row === undefined) {
      gone.add(r);
      batch.failures.push({ message: rawMessageOf(r), error: goneError(r, keys[i]!, lookup, pipeline) });
      continue;
    }
    const after = r.root['after'] as Row;
    for (const c of r.unavailable!) after[c] = row[c];
    delete r.unavailable;
  }
  if (gone.size > 0) batch.records = batch.records.filter((r) => !gone.has(r));
  return pending.length;
}

function goneError(
  r: ChangeRecord,
  key: readonly unknown[],
  lookup: RowLookup,
  pipeline: string,
): PipelineError {
  const where = r.origin ? `${r.origin.topic}/${r.origin.partition}@${r.origin.offset}` : 'record';
  const keyDesc = lookup.keyColumns.map((k, i) => `${k}=${String(key[i])}`).join(', ');
  return new PipelineError(
    `${where}: unchanged TOASTed column(s) ${r.unavailable!.join(', ')} could not be looked up: no row ${keyDesc} in the source table any more (a later delete event supersedes this change)`,
    {
      code: 'DECODE_UNAVAILABLE_VALUE',
      stage: 'decode',
      pipeline,
      position: where,
      context: { columns: r.unavailable },
    },
  );
}
