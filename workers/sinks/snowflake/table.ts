import { PipelineError } from '../../core/errors.js';
import type { PredictionSchema } from '../../core/types.js';
import {
  type ColumnMap,
  type ColumnType,
  type ResolvedColumn,
  resolveColumnMap,
} from '../shared/column-map.js';
import { derivedIdent, fnv1a, quoteIdent } from '../shared/identifiers.js';
import { sqlType } from '../shared/sql-types.js';
import type { SnowflakeSinkConfig } from './config.js';

/** Metadata columns, in Snowflake's upper case. */
export const METADATA_NAMES = {
  model_name: 'MODEL_NAME',
  model_version: 'MODEL_VERSION',
  source_position: 'SOURCE_POSITION',
  scored_at: 'SCORED_AT',
} as const;
export const POSITION = METADATA_NAMES.source_position;
export const MODEL_VERSION = METADATA_NAMES.model_version;
/** `on_delete: mark` (merge mode) and the tombstone table. */
export const DELETED_AT = 'DELETED_AT';
/** Append mode adds this column (filled from `op`) unless a column is already mapped to `op`. */
export const OP_COLUMN = 'OP';
/** Extra columns of the staging table: the row's op and, for deletes, the source commit time. */
export const STAGE_OP = '__SS_OP';
export const STAGE_DELETED_AT = '__SS_DELETED_AT';
/** The tombstone position joined into the MERGE source (`on_delete: delete`). */
export const STAGE_TOMBSTONE = '__SS_TOMBSTONE';

/** Snowflake's longest identifier. */
const MAX_IDENT = 255;

/**
 * The Snowflake type a column of this logical type is created with (`shared/sql-types.ts`), except
 * positions: `NUMBER(38)` is exactly `NUMBER(38,0)` in Snowflake, but fakesnow rewrites the literal
 * `NUMBER(38,0)` to a 64-bit BIGINT that cannot hold a position (≈ 1.8 × 10^35), so the DDL spells it
 * without the scale.
 */
export function snowflakeType(type: ColumnType): string {
  return type === 'position' ? 'NUMBER(38)' : sqlType(type, 'snowflake');
}

/**
 * Everything the sink derives from its config and the prediction schema, computed once.
 *
 * Names. Every name in the config is an unquoted Snowflake identifier, so it is resolved the way
 * Snowflake resolves one: upper case (`customer_id` is `CUSTOMER_ID`). Generated SQL quotes them anyway.
 *
 * Modes and deletes (the same design as the Postgres sink, see `postgres/table.ts`):
 * - `merge`: one row per key; a row is only replaced by a newer `SOURCE_POSITION`.
 *   - `on_delete: mark`: the row stays, `DELETED_AT` is set and its position advances; a delete of an
 *     unknown key inserts such a tombstone row; a newer upsert clears `DELETED_AT`.
 *   - `on_delete: delete`: the row is removed and the key with the delete's position is kept in
 *     `<TABLE>__TOMBSTONES`, so a later *older* upsert (a replay, a lagging backfill) cannot bring it
 *     back. A newer upsert removes the tombstone.
 *   - `on_delete: ignore`: deletes are dropped.
 * - `append`: an immutable history; a row is identified by (key, `SOURCE_POSITION`, `MODEL_VERSION`)
 *   and written once (replays add nothing); deletes are appended as rows with `OP` = 'd' unless
 *   `on_delete: ignore`.
 */
export interface SnowflakeTablePlan {
  readonly config: SnowflakeSinkConfig;
  readonly mode: SnowflakeSinkConfig['mode'];
  readonly onDelete: SnowflakeSinkConfig['on_delete'];
  readonly database: string;
  readonly schema: string;
  readonly table: string;
  /** `"DB"."SCHEMA"."TABLE"` */
  readonly quoted: string;
  /** `DB.SCHEMA.TABLE`, for messages. */
  readonly display: string;
  readonly map: ColumnMap;
  /** Columns written (mapped + metadata, + OP in append mode), in a fixed order. */
  readonly columns: readonly ResolvedColumn[];
  readonly keyColumns: readonly ResolvedColumn[];
  /** Columns that identify a row: the key (merge), or key + SOURCE_POSITION + MODEL_VERSION (append). */
  readonly identity: readonly string[];
  /** `merge` + `on_delete: mark`. */
  readonly deletedAt: string | undefined;
  /** `merge` + `on_delete: delete`. */
  readonly tombstone: { readonly table: string; readonly quoted: string } | undefined;
  /** Whether deletes are written at all. */
  readonly writesDeletes: boolean;
  /** The session's temporary staging table (a plain upper-case name, safe unquoted in `@%NAME`). */
  readonly stage: string;
}

function configError(table: string, message: string, pipeline?: string): PipelineError {
  return new PipelineError(`snowflake sink ${table}: ${message}`, {
    code: 'SINK_CONFIG_INVALID',
    stage: 'sink',
    retryable: false,
    ...(pipeline === undefined ? {} : { pipeline }),
  });
}

const upper = (s: string) => s.toUpperCase();

export function planTable(
  config: SnowflakeSinkConfig,
  schema: PredictionSchema,
  pipeline?: string,
): SnowflakeTablePlan {
  const database = upper(config.database);
  const schemaName = upper(config.schema);
  const table = upper(config.table);
  const display = `${database}.${schemaName}.${table}`;

  const columns: Record<string, string> = {};
  const original = new Map<string, string>();
  for (const [name, ref] of Object.entries(config.columns)) {
    const u = upper(name);
    const seen = original.get(u);
    if (seen !== undefined) {
      throw configError(
        display,
        `columns ${seen} and ${name} are the same Snowflake column ${u} (unquoted names are case-insensitive); expected distinct names`,
        pipeline,
      );
    }
    original.set(u, name);
    columns[u] = ref;
  }
  if (config.mode === 'append' && !Object.values(columns).includes('op')) {
    if (columns[OP_COLUMN] !== undefined) {
      throw configError(
        display,
        `column ${OP_COLUMN}: append mode writes the change's op into ${OP_COLUMN}; expected it mapped to 'op' or another name, got '${columns[OP_COLUMN]}'`,
        pipeline,
      );
    }
    columns[OP_COLUMN] = 'op';
  }
  const markMode = config.mode === 'merge' && config.on_delete === 'mark';
  const map = resolveColumnMap({
    sink: `snowflake sink ${display}`,
    ...(pipeline === undefined ? {} : { pipeline }),
    columns,
    key: config.key.map(upper),
    schema,
    metadataNames: METADATA_NAMES,
    reserved: [STAGE_OP, STAGE_DELETED_AT, STAGE_TOMBSTONE, ...(markMode ? [DELETED_AT] : [])],
  });
  const keyNames = map.keyColumns.map((c) => c.name);
  const identity = config.mode === 'append' ? [...keyNames, POSITION, MODEL_VERSION] : keyNames;

  let tombstone: SnowflakeTablePlan['tombstone'];
  if (config.mode === 'merge' && config.on_delete === 'delete') {
    const t = derivedIdent(table, '__TOMBSTONES', MAX_IDENT);
    tombstone = { table: t, quoted: [database, schemaName, t].map(quoteIdent).join('.') };
  }
  const shape = map.columns.map((c) => `${c.name}:${c.type}`).join(',');
  const stage = `STREAMSCORE_STAGE_${fnv1a(`${display}|${shape}`).toString(16).toUpperCase()}`;

  return {
    config,
    mode: config.mode,
    onDelete: config.on_delete,
    database,
    schema: schemaName,
    table,
    quoted: [database, schemaName, table].map(quoteIdent).join('.'),
    display,
    map,
    columns: map.columns,
    keyColumns: map.keyColumns,
    identity,
    deletedAt: markMode ? DELETED_AT : undefined,
    tombstone,
    writesDeletes: config.on_delete !== 'ignore',
    stage,
  };
}

function columnLine(c: { name: string; type: ColumnType }, notNull: boolean): string {
  return `  ${quoteIdent(c.name)} ${snowflakeType(c.type)}${notNull ? ' NOT NULL' : ''}`;
}

/**
 * `CREATE TABLE IF NOT EXISTS` for the target (and the tombstone table). Snowflake does not enforce
 * primary keys; the constraint documents the row identity (and tools such as dbt read it).
 */
export function createTableStatements(plan: SnowflakeTablePlan): string[] {
  const pk = (cols: readonly string[]) => `  PRIMARY KEY (${cols.map(quoteIdent).join(', ')})`;
  // Key, metadata and op columns always have a value.
  const lines = plan.columns.map((c) => columnLine(c, c.isKey || c.metadata || c.ref === 'op'));
  if (plan.deletedAt) lines.push(columnLine({ name: plan.deletedAt, type: 'timestamp' }, false));
  const out = [
    `CREATE TABLE IF NOT EXISTS ${plan.quoted} (\n${[...lines, pk(plan.identity)].join(',\n')}\n)`,
  ];
  if (plan.tombstone) {
    const t = [
      ...plan.keyColumns.map((c) => columnLine(c, true)),
      columnLine({ name: POSITION, type: 'position' }, true),
      columnLine({ name: DELETED_AT, type: 'timestamp' }, true),
      pk(plan.keyColumns.map((c) => c.name)),
    ];
    out.push(`CREATE TABLE IF NOT EXISTS ${plan.tombstone.quoted} (\n${t.join(',\n')}\n)`);
  }
  return out;
}

/** The DDL `streamscore plan` prints. */
export function snowflakeDdl(plan: SnowflakeTablePlan): string {
  return createTableStatements(plan)
    .map((s) => `${s};`)
    .join('\n\n');
}
