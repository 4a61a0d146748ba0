import { bigintAsText } from '../../core/int64.js';
import type { PredictionBatch, PredictionRow } from '../../core/types.js';
import { latestPerKey } from '../shared/latest.js';
import { columnArrays } from '../shared/values.js';
import type { SnowflakeTablePlan } from './table.js';

/**
 * One row ready for the staging table: a text cell per staging column (or null), bound as TEXT or
 * written as CSV, and cast by Snowflake to the column's type. Rows are encoded when `write()` is
 * called, so the group-commit buffer knows their size, and flushes only pick and send them.
 */
export interface StagedRow {
  /** The source row (kept for the newest-per-identity choice). */
  readonly row: PredictionRow;
  /** The row's identity within the target: the key (merge) or key + position + model version (append). */
  readonly id: unknown;
  /** One cell per `stageColumns(plan)`. */
  readonly cells: (string | null)[];
  /** Approximate size in bytes (cell text plus separators). */
  readonly bytes: number;
}

/** A driver or CSV value as text: numbers in their shortest round-trip form, floats' specials as Snowflake spells them. */
export function cellText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      if (Number.isFinite(value)) return String(value);
      return Number.isNaN(value) ? 'NaN' : value > 0 ? 'inf' : '-inf';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    default:
      return String(value);
  }
}

/**
 * `…Z` → `…+00:00`: ISO-8601 with an explicit offset, the form TIMESTAMP_TZ's AUTO input format
 * (and fakesnow) parse without doubt.
 */
function utcOffset(iso: string): string {
  return iso.endsWith('Z') ? `${iso.slice(0, -1)}+00:00` : iso;
}

/**
 * Encodes the rows of one batch for the staging table (deletes dropped when the sink ignores them).
 * Values go through the shared `columnArrays`/`toSqlParam` conversion first, so Postgres and Snowflake
 * see the same values.
 */
export function stageRows(plan: SnowflakeTablePlan, batch: PredictionBatch): StagedRow[] {
  const rows = plan.writesDeletes ? batch.rows : batch.rows.filter((r) => r.op !== 'd');
  const n = rows.length;
  if (n === 0) return [];
  const arrays = columnArrays(plan.columns, batch, rows);
  const width = arrays.length;
  const out = new Array<StagedRow>(n);
  const append = plan.mode === 'append';
  const isTimestamp = plan.columns.map((c) => c.type === 'timestamp');
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    const cells = new Array<string | null>(width + 2);
    let bytes = width + 2;
    for (let c = 0; c < width; c++) {
      const v = arrays[c]![i];
      const text = isTimestamp[c] && typeof v === 'string' ? utcOffset(v) : cellText(v);
      cells[c] = text;
      if (text !== null) bytes += text.length;
    }
    const del = row.op === 'd';
    cells[width] = del ? 'd' : row.op;
    cells[width + 1] = del ? utcOffset(new Date(row.sourceTsMs).toISOString()) : null;
    bytes += del ? 25 : 1;
    const key = plan.map.keyIdentity(row, batch);
    const id = append
      ? `${typeof key === 'string' ? key : JSON.stringify(key, bigintAsText)}|${row.position}|${(row.model ?? batch.model).version}`
      : key;
    out[i] = { row, id, cells, bytes };
  }
  return out;
}

/** The newest row per identity (on a tie, the later one), as a MERGE source needs. */
export function newestPerIdentity(items: readonly StagedRow[]): StagedRow[] {
  const byRow = new Map<PredictionRow, StagedRow>();
  for (const s of items) byRow.set(s.row, s);
  return latestPerKey(
    items.map((s) => s.row),
    (r) => byRow.get(r)!.id,
  ).map((r) => byRow.get(r)!);
}

/**
 * CSV text of staged rows for COPY INTO (FIELD_OPTIONALLY_ENCLOSED_BY = '"', EMPTY_FIELD_AS_NULL):
 * every non-null cell is quoted with `"` doubled inside, so an empty string stays '' and NULL is an
 * empty unquoted field.
 */
export function csvText(rows: readonly StagedRow[]): string {
  const parts: string[] = [];
  for (const r of rows) {
    const cells = r.cells;
    let line = '';
    for (let c = 0; c < cells.length; c++) {
      if (c > 0) line += ',';
      const v = cells[c];
      if (v !== null && v !== undefined) line += `"${v.includes('"') ? v.replaceAll('"', '""') : v}"`;
    }
    parts.push(line);
  }
  parts.push('');
  return parts.join('\n');
}
