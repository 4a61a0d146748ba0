import type { ChangeRecord } from '../core/types.js';

/**
 * A key tuple as text, one entry per key column, in key order: the source's own text form of each
 * value, so bounds survive JSON (job data) and are cast back by the reader exactly.
 */
export type KeyTuple = readonly string[];

/** Rows with `lower < key <= upper`; a missing bound is open. Keys compare as tuples. */
export interface KeyRange {
  lower: KeyTuple | null;
  upper: KeyTuple | null;
}

/** Which rows a run scores: the pipeline's `where`, the CLI's `--where` and an updated-since window. */
export interface BackfillFilter {
  /** Trusted SQL conditions (pipeline owner, operator), ANDed. */
  where: readonly string[];
  /** ISO-8601 instant: only rows whose `updated_at` column is at or after it. */
  since: string | null;
}

export interface ChunkPlan {
  /** Contiguous, non-overlapping ranges covering the whole key space (first and last are open). */
  ranges: KeyRange[];
  /** Rows matching the filter when the plan was made (chunks read later may see more or fewer). */
  rows: number;
}

/** One fetch of a chunk: rows converted to change records, as the streaming decoder would build them. */
export interface TableSlice {
  records: ChangeRecord[];
  /** Commit-time position of the snapshot the chunk is read in, µs since the epoch. */
  snapshotUs: bigint;
}

export interface ReadOptions {
  /** Rows per slice. */
  fetchRows: number;
  signal?: AbortSignal;
}

/**
 * Reads a source table for backfills. Implementations: Postgres (`postgres/reader.ts`); a
 * Snowflake reader follows the same contract.
 *
 * - `planChunks` splits the rows matching `filter` into ranges of about `chunkSize` rows by
 *   keyset pagination (never OFFSET), reading one consistent snapshot.
 * - `readChunk` yields the rows of one range (and the filter) in key order, all from one snapshot,
 *   as ChangeRecords of op `r` whose root is `{ before: null, after: row, source, op, ts_ms, key }`
 *   with values converted exactly as the Debezium decoder converts them, and whose position is
 *   `makePosition(snapshot time in µs, 0)`, the snapshot time being the read transaction's start
 *   less a visibility margin (postgres/sql.ts): a change committed after the read wins over the
 *   backfilled prediction, one committed before is superseded by it. The generator may be left
 *   early (`return`); the reader then releases its snapshot and connection.
 * - `close` releases every connection.
 */
export interface TableReader {
  /** Source table name, for messages and the `source.table` of records. */
  readonly table: string;
  planChunks(filter: BackfillFilter, chunkSize: number): Promise<ChunkPlan>;
  readChunk(range: KeyRange, filter: BackfillFilter, options: ReadOptions): AsyncGenerator<TableSlice>;
  close(): Promise<void>;
}

/** `(a, b]` text of a range for messages and status: `(-∞, 42]`, `(42, 84]`, `(84, +∞)`. */
export function describeRange(range: KeyRange): string {
  const t = (k: KeyTuple) => (k.length === 1 ? k[0]! : `(${k.join(', ')})`);
  return `(${range.lower ? t(range.lower) : '-∞'}, ${range.upper ? `${t(range.upper)}]` : '+∞)'}`;
}

/** Ranges between consecutive boundaries: `(-∞, b1], (b1, b2], …, (bn, +∞)`. */
export function rangesFromBoundaries(boundaries: readonly KeyTuple[]): KeyRange[] {
  const ranges: KeyRange[] = [];
  let lower: KeyTuple | null = null;
  for (const b of boundaries) {
    ranges.push({ lower, upper: b });
    lower = b;
  }
  ranges.push({ lower, upper: null });
  return ranges;
}
