import { bigintAsText } from '../../core/int64.js';
import type { PredictionBatch, PredictionRow } from '../../core/types.js';
import type { ColumnType, ResolvedColumn } from './column-map.js';

/**
 * Converts a value read from a prediction row to what a SQL driver binds for the column's type:
 * numbers stay numbers, 64-bit integers and positions become decimal text (no precision loss),
 * timestamps become ISO-8601 text, null and undefined become null.
 */
export function toSqlParam(type: ColumnType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'float':
      return typeof value === 'bigint' ? Number(value) : typeof value === 'boolean' ? Number(value) : value;
    case 'int':
      if (typeof value === 'bigint') return value.toString();
      if (typeof value === 'boolean') return value ? 1 : 0;
      return value;
    case 'bool':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'number' || typeof value === 'bigint') return Number(value) !== 0;
      if (typeof value === 'string') return value === 'true' || value === '1' || value === 't';
      return Boolean(value);
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'object') return JSON.stringify(value, bigintAsText);
      return String(value);
    case 'position':
      return typeof value === 'bigint' ? value.toString() : String(value);
    case 'timestamp':
      if (value instanceof Date) return value.toISOString();
      if (typeof value === 'number') return new Date(value).toISOString();
      return String(value);
  }
}

/**
 * Column-major parameter arrays for `rows`: one array per column, converted with `toSqlParam`.
 * The shape every bulk path starts from (array parameters, VALUES lists, COPY text).
 */
export function columnArrays(
  columns: readonly ResolvedColumn[],
  batch: PredictionBatch,
  rows: readonly PredictionRow[],
): unknown[][] {
  const n = rows.length;
  return columns.map((col) => {
    const out = new Array<unknown>(n);
    const { read, type } = col;
    if (type === 'timestamp') {
      // Rows of a batch usually share one Date (scored_at): format it once.
      let last: unknown;
      let text: unknown = null;
      for (let i = 0; i < n; i++) {
        const v = read(rows[i]!, batch);
        if (v !== last) {
          last = v;
          text = toSqlParam(type, v);
        }
        out[i] = text;
      }
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = toSqlParam(type, read(rows[i]!, batch));
    return out;
  });
}
