import type { ResolvedColumn } from '../shared/column-map.js';
import { fnv1a, quoteIdent } from '../shared/identifiers.js';
import { pgCast } from '../shared/sql-types.js';
import { pgArrayLiteral } from './array-literal.js';
import { POSITION, type PostgresTablePlan } from './table.js';

/**
 * SQL text of the sink's statements. Placeholders are knex's `?` (turned into `$n`); every
 * identifier is quoted; data only ever travels as parameters (or COPY data).
 *
 * The row source `s` is one of:
 * - `unnest`: `unnest(?::float8[], ?::text[], …) AS s(…)`: one array parameter per column, so a
 *   statement of any size has as many parameters as the table has columns;
 * - `values`: `(VALUES (?::float8, ?::text), (?, ?), …) AS s(…)`: one parameter per cell, so
 *   statements are capped by `max_rows_per_statement` (Postgres allows 65535 parameters);
 * - `stage`: a per-session temp table filled by COPY (see copy.ts).
 */
export interface Statement {
  sql: string;
  bindings: unknown[];
}

export type RowSource = { sql: string; bindings: unknown[] };

/**
 * A one-row FROM item that makes the statement's transaction commit durably, whatever the
 * server's, database's or role's default: `set_config(…, is_local => true)` is `SET LOCAL
 * synchronous_commit` from inside the statement, in force until its transaction commits, the
 * implicit one of a lone statement included. So the write is acknowledged only once its WAL is
 * flushed (and, with synchronous standbys, confirmed by them): `on`, or `remote_apply` when that
 * stronger level is already set. Every statement that writes the target or tombstone table
 * reads its rows through it, so no write path can miss it, and it costs no round trip (a
 * `SET LOCAL` statement would cost one per write, and a lone upsert would need BEGIN/COMMIT
 * around it), stays correct behind transaction-pooling proxies (unlike a session setting or a
 * startup option) and survives a role's `ALTER ROLE … SET synchronous_commit = off`. The
 * subquery is not flattened (it calls a volatile function), and a row reaches the write only
 * through the join, so the setting is made before anything is written.
 */
export const DURABLE_COMMIT =
  "(SELECT set_config('synchronous_commit', CASE current_setting('synchronous_commit') " +
  "WHEN 'remote_apply' THEN 'remote_apply' ELSE 'on' END, true)) AS durable_commit";

const names = (cols: readonly { name: string }[], prefix = '') =>
  cols.map((c) => prefix + quoteIdent(c.name)).join(', ');

export function unnestSource(columns: readonly ResolvedColumn[], arrays: readonly unknown[][]): RowSource {
  const params = columns.map((c) => `?::${pgCast(c.type)}[]`).join(', ');
  return { sql: `unnest(${params}) AS s(${names(columns)})`, bindings: arrays.map(pgArrayLiteral) };
}

/** Rows `from`…`to` (exclusive) of the column arrays as a typed VALUES list. */
export function valuesSource(
  columns: readonly ResolvedColumn[],
  arrays: readonly unknown[][],
  from: number,
  to: number,
): RowSource {
  const width = columns.length;
  const bindings = new Array<unknown>((to - from) * width);
  const typedRow = `(${columns.map((c) => `?::${pgCast(c.type)}`).join(', ')})`;
  const plainRow = `(${columns.map(() => '?').join(', ')})`;
  const rows: string[] = [];
  let b = 0;
  for (let i = from; i < to; i++) {
    rows.push(i === from ? typedRow : plainRow);
    for (let c = 0; c < width; c++) bindings[b++] = arrays[c]![i];
  }
  return { sql: `(VALUES ${rows.join(', ')}) AS s(${names(columns)})`, bindings };
}

export function stageSource(stage: string, columns: readonly ResolvedColumn[]): RowSource {
  return { sql: `(SELECT ${names(columns)} FROM pg_temp.${quoteIdent(stage)}) AS s`, bindings: [] };
}

/** Name of the per-session staging table of the COPY path (unique per target table and column set). */
export function stageTableName(plan: PostgresTablePlan): string {
  const shape = plan.columns.map((c) => `${c.name}:${c.type}`).join(',');
  return `streamscore_stage_${fnv1a(`${plan.config.table}|${shape}`).toString(16)}`;
}

export function createStageStatement(plan: PostgresTablePlan, stage: string): string {
  const cols = plan.columns.map((c) => `${quoteIdent(c.name)} ${pgCast(c.type)}`).join(', ');
  return `CREATE TEMP TABLE IF NOT EXISTS ${quoteIdent(stage)} (${cols}) ON COMMIT DELETE ROWS`;
}

const keyMatch = (plan: PostgresTablePlan, left: string, right: string) =>
  plan.keyColumns.map((k) => `${left}.${quoteIdent(k.name)} = ${right}.${quoteIdent(k.name)}`).join(' AND ');

/**
 * The order-guarded upsert of rows from `source` (at most one row per key). In `mark` mode it also
 * clears `deleted_at`; in `delete` mode it skips keys deleted at a newer-or-equal position and
 * drops tombstones older than the rows it writes.
 */
export function upsertStatement(plan: PostgresTablePlan, source: RowSource): Statement {
  const cols = plan.columns;
  const pos = quoteIdent(POSITION);
  const target = [...cols.map((c) => quoteIdent(c.name))];
  const select = [...cols.map((c) => `s.${quoteIdent(c.name)}`)];
  const set = cols
    .filter((c) => !c.isKey)
    .map((c) => `${quoteIdent(c.name)} = excluded.${quoteIdent(c.name)}`);
  if (plan.deletedAt) {
    target.push(quoteIdent(plan.deletedAt));
    select.push('NULL');
    set.push(`${quoteIdent(plan.deletedAt)} = NULL`);
  }
  const conflict = `ON CONFLICT (${names(plan.keyColumns)}) DO UPDATE SET ${set.join(', ')} WHERE t.${pos} < excluded.${pos}`;
  const insert = `INSERT INTO ${plan.quoted} AS t (${target.join(', ')})`;
  if (!plan.tombstone) {
    return {
      sql: `${insert} SELECT ${select.join(', ')} FROM ${DURABLE_COMMIT}, ${source.sql} ${conflict}`,
      bindings: source.bindings,
    };
  }
  const tomb = plan.tombstone.quoted;
  const sql =
    `WITH s AS MATERIALIZED (SELECT s.* FROM ${DURABLE_COMMIT}, ${source.sql}), ` +
    `cleared AS (DELETE FROM ${tomb} AS d USING s WHERE ${keyMatch(plan, 'd', 's')} AND d.${pos} < s.${pos}) ` +
    `${insert} SELECT ${select.join(', ')} FROM s ` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${tomb} AS d WHERE ${keyMatch(plan, 'd', 's')} AND d.${pos} >= s.${pos}) ` +
    conflict;
  return { sql, bindings: source.bindings };
}

/**
 * Deletes from `source` (columns: `plan.deleteColumns`, then `deleted_at`), by mode:
 * `delete` records tombstones and removes older rows; `mark` upserts a tombstone row.
 */
export function deleteStatement(
  plan: PostgresTablePlan,
  arrays: readonly unknown[][],
  deletedAt: readonly string[],
): Statement {
  const cols = plan.deleteColumns;
  const pos = quoteIdent(POSITION);
  const deleted = quoteIdent(plan.deletedAt ?? 'deleted_at');
  const params = [...cols.map((c) => `?::${pgCast(c.type)}[]`), '?::timestamptz[]'].join(', ');
  const source = `unnest(${params}) AS s(${names(cols)}, ${deleted})`;
  const bindings = [...arrays.map(pgArrayLiteral), pgArrayLiteral(deletedAt)];
  if (plan.onDelete === 'mark') {
    const set = cols
      .filter((c) => !c.isKey)
      .map((c) => `${quoteIdent(c.name)} = excluded.${quoteIdent(c.name)}`);
    set.push(`${deleted} = excluded.${deleted}`);
    const sql =
      `INSERT INTO ${plan.quoted} AS t (${names(cols)}, ${deleted}) SELECT ${names(cols, 's.')}, s.${deleted} FROM ${DURABLE_COMMIT}, ${source} ` +
      `ON CONFLICT (${names(plan.keyColumns)}) DO UPDATE SET ${set.join(', ')} WHERE t.${pos} < excluded.${pos}`;
    return { sql, bindings };
  }
  const tomb = plan.tombstone!.quoted;
  const keys = names(plan.keyColumns);
  const sql =
    `WITH s AS MATERIALIZED (SELECT s.* FROM ${DURABLE_COMMIT}, ${source}), ` +
    `marked AS (INSERT INTO ${tomb} AS d (${keys}, ${pos}, ${deleted}) SELECT ${names(plan.keyColumns, 's.')}, s.${pos}, s.${deleted} FROM s ` +
    `ON CONFLICT (${keys}) DO UPDATE SET ${pos} = excluded.${pos}, ${deleted} = excluded.${deleted} WHERE d.${pos} < excluded.${pos}) ` +
    `DELETE FROM ${plan.quoted} AS t USING s WHERE ${keyMatch(plan, 't', 's')} AND t.${pos} < s.${pos}`;
  return { sql, bindings };
}

/** Namespace of the sink's advisory locks (`pg_advisory_xact_lock(int, int)`), "ss" in ASCII. */
export const LOCK_NAMESPACE = 0x7373;

/** Serialises check-then-write across the target and tombstone tables (delete mode only). */
export function lockStatement(plan: PostgresTablePlan, exclusive: boolean): Statement {
  const fn = exclusive ? 'pg_advisory_xact_lock' : 'pg_advisory_xact_lock_shared';
  return { sql: `SELECT ${fn}(?, hashtext(?))`, bindings: [LOCK_NAMESPACE, plan.config.table] };
}
