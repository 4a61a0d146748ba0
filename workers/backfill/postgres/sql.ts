import { quoteIdent, quoteQualified } from '../../sinks/shared/identifiers.js';
import type { BackfillFilter, KeyRange, KeyTuple } from '../reader.js';

/**
 * SQL text of the Postgres table reader. Identifiers are quoted; key bounds and the since-instant
 * travel as parameters, cast to the key columns' own types; `where` conditions are trusted text
 * from the pipeline owner or the operator.
 */
export interface KeyColumn {
  name: string;
  /** `format_type` of the column, e.g. `bigint`, `character varying(20)`. */
  type: string;
}

export interface TableShape {
  table: string;
  keys: readonly KeyColumn[];
  updatedAt: string | undefined;
}

export interface Statement {
  sql: string;
  params: unknown[];
}

/** Column names and types of a table (for the key columns and the updated_at column). */
export const COLUMNS_SQL =
  'SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a ' +
  'WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped';

/**
 * The table's replica identity, its columns' storage (`x`/`e`: may be TOASTed out of line) and the
 * size of its TOAST relation (0: no value is stored out of line now).
 */
export const IDENTITY_SQL =
  'SELECT c.relreplident, a.attname AS name, a.attstorage AS storage, ' +
  'CASE WHEN c.reltoastrelid = 0 THEN 0 ELSE pg_relation_size(c.reltoastrelid) END::int8::text AS toast_bytes FROM pg_class c ' +
  'JOIN pg_attribute a ON a.attrelid = c.oid WHERE c.oid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped';

/** One key tuple as text, for matching looked-up rows to records (int64 keys are exact already). */
export function keyText(values: readonly unknown[]): string {
  return values.map((v) => String(v)).join('\u0000');
}

/**
 * `SELECT <key>, <columns> FROM t WHERE (<key>) IN (SELECT * FROM unnest($1::<type>[], …))`: the
 * key tuples as one array parameter per key column, cast to the column's own type.
 */
export function lookupStatement(
  s: TableShape,
  columns: readonly string[],
  keys: readonly (readonly unknown[])[],
): Statement {
  const params = s.keys.map((_, i) =>
    keys.map((k) => (k[i] === null || k[i] === undefined ? null : String(k[i]))),
  );
  const arrays = s.keys.map((k, i) => `$${i + 1}::${k.type}[]`).join(', ');
  const cols = [...s.keys.map((k) => k.name), ...columns.filter((c) => !s.keys.some((k) => k.name === c))];
  const sql =
    `SELECT ${cols.map(quoteIdent).join(', ')} FROM ${quoteQualified(s.table)} ` +
    `WHERE (${keyList(s)}) IN (SELECT * FROM unnest(${arrays}))`;
  return { sql, params };
}

/** First statement of a chunk's transaction: it takes the snapshot; now() is the transaction's start. */
/**
 * How far before its read transaction's start a chunk's rows are stamped (µs). Postgres takes a
 * transaction's commit time before the commit becomes visible (the WAL record is written, then
 * flushed, then the transaction leaves the proc array), so a change stamped just before the read
 * began may still be invisible to the read's snapshot; stamped at the read's start, the chunk's older
 * row would outrank that change (seen: 12 of 12,508 racing updates on a loaded 2-core machine). One
 * second covers that window unless a commit stalls longer (a synchronous standby that does not
 * answer). A change committed within the second before the read, and seen by it, outranks the
 * backfilled row instead: the same row, scored by the stream.
 */
export const VISIBILITY_MARGIN_US = 1_000_000;

export const SNAPSHOT_SQL = `SELECT ((extract(epoch FROM now()) * 1000000)::int8 - ${VISIBILITY_MARGIN_US})::text AS us, current_database() AS db`;

const keyList = (s: TableShape) => s.keys.map((k) => quoteIdent(k.name)).join(', ');

class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

function tuple(s: TableShape, key: KeyTuple, p: Params): string {
  return `(${s.keys.map((k, i) => p.add(key[i], k.type)).join(', ')})`;
}

function conditions(s: TableShape, filter: BackfillFilter, p: Params, range?: KeyRange): string {
  const parts = filter.where.map((w) => `(${w})`);
  if (filter.since !== null) {
    if (s.updatedAt === undefined) throw new Error('since needs the updated_at column');
    parts.push(`${quoteIdent(s.updatedAt)} >= ${p.add(filter.since, 'timestamptz')}`);
  }
  if (range?.lower) parts.push(`(${keyList(s)}) > ${tuple(s, range.lower, p)}`);
  if (range?.upper) parts.push(`(${keyList(s)}) <= ${tuple(s, range.upper, p)}`);
  return parts.length === 0 ? '' : ` WHERE ${parts.join(' AND ')}`;
}

/**
 * Chunk boundaries in one pass over the key index: the key of every `chunkSize`-th matching row
 * (window function, no OFFSET). Rows come back in array mode, one text value per key column.
 */
export function boundariesStatement(s: TableShape, filter: BackfillFilter, chunkSize: number): Statement {
  const p = new Params();
  const where = conditions(s, filter, p);
  const size = p.add(chunkSize, 'int8');
  const text = s.keys.map((k) => `${quoteIdent(k.name)}::text`).join(', ');
  const sql =
    `SELECT ${text} FROM (SELECT ${keyList(s)}, row_number() OVER (ORDER BY ${keyList(s)}) AS rn ` +
    `FROM ${quoteQualified(s.table)}${where}) AS k WHERE k.rn % ${size} = 0 ORDER BY k.rn`;
  return { sql, params: p.values };
}

/** Matching rows after the last boundary (the last, partial chunk). */
export function tailCountStatement(s: TableShape, filter: BackfillFilter, after: KeyTuple | null): Statement {
  const p = new Params();
  const where = conditions(s, filter, p, { lower: after, upper: null });
  return { sql: `SELECT count(*)::int8 AS n FROM ${quoteQualified(s.table)}${where}`, params: p.values };
}

/** The rows of one chunk, in key order. */
export function chunkStatement(s: TableShape, filter: BackfillFilter, range: KeyRange): Statement {
  const p = new Params();
  const where = conditions(s, filter, p, range);
  return {
    sql: `SELECT * FROM ${quoteQualified(s.table)}${where} ORDER BY ${keyList(s)}`,
    params: p.values,
  };
}
