import type { PredictionSchema } from '../../core/types.js';
import { type ColumnMap, type ResolvedColumn, resolveColumnMap } from '../shared/column-map.js';
import {
  derivedIdent,
  parseTableName,
  quoteIdent,
  quoteQualified,
  type TableName,
} from '../shared/identifiers.js';
import { sqlType } from '../shared/sql-types.js';
import type { PostgresSinkConfig } from './config.js';

/** Column the sink keeps for `on_delete: mark` (and in the tombstone table). */
export const DELETED_AT = 'deleted_at';
export const POSITION = 'source_position';

/**
 * Everything the Postgres sink derives from its config and the prediction schema, computed once:
 * the target table, resolved columns, and the tombstone table used by `on_delete: delete`.
 *
 * Deletes and ordering. `source_position` guards every write (`WHERE target.source_position <
 * excluded.source_position`). A physically deleted row carries no position, so on its own a later
 * *older* upsert (a replay, a lagging backfill) would bring it back. The modes therefore keep the
 * position of a delete somewhere:
 *
 * - `mark`: the row stays as a tombstone: `deleted_at` is set (the source commit time of the
 *   delete), the position advances, the last prediction's values are kept. A delete for a key not
 *   in the table inserts a tombstone row (non-key outputs NULL). A newer upsert clears `deleted_at`.
 *   One table, one guarded `INSERT … ON CONFLICT`, so it is safe under concurrent writers.
 * - `delete`: the row is removed from the table, and the key with the delete's position is kept in
 *   a side table `<table>__tombstones` (key columns, source_position, deleted_at). Upserts skip rows
 *   whose key has a tombstone at a position ≥ theirs and, in the same statement, drop tombstones
 *   older than what they write, so the side table only holds keys that are currently deleted.
 *   The check-then-write spans two tables, so writers of one table take a transaction-scoped
 *   advisory lock: shared for batches of upserts only (they do not wait for each other), exclusive
 *   for batches with deletes (rare). Readers never see tombstones.
 * - `ignore`: deletes are dropped.
 */
export interface PostgresTablePlan {
  readonly config: PostgresSinkConfig;
  readonly name: TableName;
  /** `"ml"."customer_churn_scores"` */
  readonly quoted: string;
  readonly map: ColumnMap;
  /** Columns written by upserts (mapped + metadata), in a fixed order. */
  readonly columns: readonly ResolvedColumn[];
  readonly keyColumns: readonly ResolvedColumn[];
  /** Columns a delete has values for (key columns, metadata, `op`). */
  readonly deleteColumns: readonly ResolvedColumn[];
  readonly onDelete: PostgresSinkConfig['on_delete'];
  /** Set in `mark` mode. */
  readonly deletedAt: string | undefined;
  /** Set in `delete` mode. */
  readonly tombstone: { name: TableName; quoted: string } | undefined;
}

export function planTable(
  config: PostgresSinkConfig,
  schema: PredictionSchema,
  pipeline?: string,
): PostgresTablePlan {
  const name = parseTableName(config.table);
  const map = resolveColumnMap({
    sink: `postgres sink ${config.table}`,
    ...(pipeline === undefined ? {} : { pipeline }),
    columns: config.columns,
    key: config.key,
    schema,
    reserved: config.on_delete === 'mark' ? [DELETED_AT] : [],
  });
  let tombstone: PostgresTablePlan['tombstone'];
  if (config.on_delete === 'delete') {
    const tname = parseTableName(
      [...name.parts.slice(0, -1), derivedIdent(name.table, '__tombstones')].join('.'),
    );
    tombstone = { name: tname, quoted: quoteQualified(tname) };
  }
  return {
    config,
    name,
    quoted: quoteQualified(name),
    map,
    columns: map.columns,
    keyColumns: map.keyColumns,
    deleteColumns: map.columns.filter((c) => c.knownOnDelete),
    onDelete: config.on_delete,
    deletedAt: config.on_delete === 'mark' ? DELETED_AT : undefined,
    tombstone,
  };
}

function columnLine(c: ResolvedColumn): string {
  return `  ${quoteIdent(c.name)} ${sqlType(c.type)}${c.isKey || c.metadata ? ' NOT NULL' : ''}`;
}

/** `CREATE TABLE IF NOT EXISTS` for the target table (and the tombstone table in `delete` mode). */
export function createTableStatements(plan: PostgresTablePlan): string[] {
  const pk = `  PRIMARY KEY (${plan.keyColumns.map((c) => quoteIdent(c.name)).join(', ')})`;
  const lines = plan.columns.map(columnLine);
  if (plan.deletedAt) lines.push(`  ${quoteIdent(plan.deletedAt)} ${sqlType('timestamp')}`);
  const out = [`CREATE TABLE IF NOT EXISTS ${plan.quoted} (\n${[...lines, pk].join(',\n')}\n)`];
  if (plan.tombstone) {
    const t = [
      ...plan.keyColumns.map(columnLine),
      `  ${quoteIdent(POSITION)} ${sqlType('position')} NOT NULL`,
      `  ${quoteIdent(DELETED_AT)} ${sqlType('timestamp')} NOT NULL`,
      pk,
    ];
    out.push(`CREATE TABLE IF NOT EXISTS ${plan.tombstone.quoted} (\n${t.join(',\n')}\n)`);
  }
  return out;
}

export function createSchemaStatement(plan: PostgresTablePlan): string | undefined {
  return plan.name.schema === undefined
    ? undefined
    : `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(plan.name.schema)}`;
}

/** The DDL `streamscore plan` prints: schema, table and (in `delete` mode) the tombstone table. */
export function postgresDdl(plan: PostgresTablePlan): string {
  const schema = createSchemaStatement(plan);
  return [...(schema ? [schema] : []), ...createTableStatements(plan)].map((s) => `${s};`).join('\n\n');
}
