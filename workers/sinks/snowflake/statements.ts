import { quoteIdent } from '../shared/identifiers.js';
import {
  DELETED_AT,
  POSITION,
  type SnowflakeTablePlan,
  STAGE_DELETED_AT,
  STAGE_OP,
  STAGE_TOMBSTONE,
  snowflakeType,
} from './table.js';

/**
 * SQL text of the sink's statements. Every identifier is quoted; data only travels as bind values
 * or as the staged CSV file. Placeholders are the driver's positional `?`.
 *
 * A flush runs: TRUNCATE the staging table → fill it (array-bound INSERT, multi-row VALUES, or PUT +
 * COPY INTO) → one MERGE into the target (merge, or append as insert-only MERGE); with `on_delete:
 * delete` a MERGE into the tombstone table runs first. The staging table holds at most one row per
 * identity (the sink keeps the newest), as a MERGE source must.
 */

const q = quoteIdent;
const list = (names: readonly string[], prefix = '') => names.map((n) => prefix + q(n)).join(', ');

/** Staging columns: the target's columns, then the op and the delete's commit time. */
export function stageColumns(plan: SnowflakeTablePlan): string[] {
  return [...plan.columns.map((c) => c.name), STAGE_OP, STAGE_DELETED_AT];
}

export function createStageStatement(plan: SnowflakeTablePlan): string {
  const cols = [
    ...plan.columns.map((c) => `${q(c.name)} ${snowflakeType(c.type)}`),
    `${q(STAGE_OP)} VARCHAR`,
    `${q(STAGE_DELETED_AT)} ${snowflakeType('timestamp')}`,
  ];
  return `CREATE TEMPORARY TABLE IF NOT EXISTS ${q(plan.stage)} (${cols.join(', ')})`;
}

export function truncateStageStatement(plan: SnowflakeTablePlan): string {
  return `TRUNCATE TABLE ${q(plan.stage)}`;
}

/** `INSERT … VALUES (?, …)` for `rows` rows (array binding with one row of placeholders when rows = 1). */
export function insertStageStatement(plan: SnowflakeTablePlan, rows = 1): string {
  const cols = stageColumns(plan);
  const row = `(${cols.map(() => '?').join(', ')})`;
  return `INSERT INTO ${q(plan.stage)} (${list(cols)}) VALUES ${Array.from({ length: rows }, () => row).join(', ')}`;
}

const PLAIN = /^[A-Za-z0-9_-]+$/;

/**
 * Uploads a local file into a directory of the staging table's stage (`@%NAME/<dir>`: every table has
 * a stage, no privilege needed). One directory per flush, so a COPY never sees another flush's file.
 */
export function putStatement(plan: SnowflakeTablePlan, localPath: string, dir: string): string {
  if (/['\s\\]/.test(localPath))
    throw new Error(`expected a local path without quotes or spaces, got ${localPath}`);
  if (!PLAIN.test(dir)) throw new Error(`expected a plain directory name, got ${dir}`);
  return `PUT 'file://${localPath}' @%${plan.stage}/${dir} AUTO_COMPRESS = TRUE OVERWRITE = TRUE`;
}

/**
 * Loads the file of one flush's directory: CSV, every string quoted, NULL as an empty unquoted field;
 * the file is removed from the stage afterwards (PURGE). Any bad row fails the statement.
 */
export function copyStatement(plan: SnowflakeTablePlan, dir: string): string {
  if (!PLAIN.test(dir)) throw new Error(`expected a plain directory name, got ${dir}`);
  return (
    `COPY INTO ${q(plan.stage)} (${list(stageColumns(plan))}) FROM @%${plan.stage}/${dir}/ ` +
    `FILE_FORMAT = (TYPE = CSV COMPRESSION = AUTO FIELD_DELIMITER = ',' FIELD_OPTIONALLY_ENCLOSED_BY = '"' ` +
    `EMPTY_FIELD_AS_NULL = TRUE NULL_IF = ()) ON_ERROR = ABORT_STATEMENT PURGE = TRUE`
  );
}

const match = (cols: readonly string[], left: string, right: string) =>
  cols.map((c) => `${left}.${q(c)} = ${right}.${q(c)}`).join(' AND ');

const isDelete = `s.${q(STAGE_OP)} = 'd'`;
const newer = `t.${q(POSITION)} < s.${q(POSITION)}`;

/**
 * The order-guarded MERGE of the staged rows into the target (merge mode):
 * - a matched row is only touched by a newer position; a newer delete removes it (`delete`) or
 *   marks it (`mark`: position, metadata and `DELETED_AT` advance, the last prediction stays);
 * - an unmatched upsert is inserted unless a tombstone at a newer-or-equal position exists (`delete`);
 * - an unmatched delete inserts a tombstone row in `mark` mode and nothing otherwise.
 */
export function mergeStatement(plan: SnowflakeTablePlan): string {
  const keys = plan.keyColumns.map((c) => c.name);
  const all = plan.columns.map((c) => c.name);
  const set = (cols: readonly string[]) => cols.map((c) => `${q(c)} = s.${q(c)}`);
  const upsertSet = set(plan.columns.filter((c) => !c.isKey).map((c) => c.name));
  const insertCols = [...all];
  const insertVals = all.map((c) => `s.${q(c)}`);
  let source = q(plan.stage);
  const clauses: string[] = [];
  let notMatched = `s.${q(STAGE_OP)} <> 'd'`;

  if (plan.deletedAt) {
    const deletedAt = q(plan.deletedAt);
    const markSet = set(plan.columns.filter((c) => !c.isKey && c.knownOnDelete).map((c) => c.name));
    clauses.push(
      `WHEN MATCHED AND ${newer} AND ${isDelete} THEN UPDATE SET ${[...markSet, `${deletedAt} = s.${q(STAGE_DELETED_AT)}`].join(', ')}`,
      `WHEN MATCHED AND ${newer} THEN UPDATE SET ${[...upsertSet, `${deletedAt} = NULL`].join(', ')}`,
    );
    insertCols.push(plan.deletedAt);
    insertVals.push(`s.${q(STAGE_DELETED_AT)}`);
    notMatched = '';
  } else {
    if (plan.writesDeletes) clauses.push(`WHEN MATCHED AND ${newer} AND ${isDelete} THEN DELETE`);
    clauses.push(`WHEN MATCHED AND ${newer} AND NOT (${isDelete}) THEN UPDATE SET ${upsertSet.join(', ')}`);
    if (plan.tombstone) {
      source = `(SELECT s.*, d.${q(POSITION)} AS ${q(STAGE_TOMBSTONE)} FROM ${q(plan.stage)} AS s LEFT JOIN ${plan.tombstone.quoted} AS d ON ${match(keys, 's', 'd')})`;
      notMatched += ` AND (s.${q(STAGE_TOMBSTONE)} IS NULL OR s.${q(STAGE_TOMBSTONE)} < s.${q(POSITION)})`;
    }
  }
  clauses.push(
    `WHEN NOT MATCHED${notMatched ? ` AND ${notMatched}` : ''} THEN INSERT (${list(insertCols)}) VALUES (${insertVals.join(', ')})`,
  );
  return `MERGE INTO ${plan.quoted} AS t USING ${source} AS s ON ${match(keys, 't', 's')}\n${clauses.join('\n')}`;
}

/**
 * Tombstones (`on_delete: delete`), run before the target MERGE: a newer delete records or advances
 * its key's tombstone; a newer upsert removes it. Run first and without a transaction, every
 * intermediate state has tombstones at least as new as the target, so a failure between the two
 * statements can delay a delete but never resurrect a row, and the replay converges.
 */
export function tombstoneStatement(plan: SnowflakeTablePlan): string {
  const tomb = plan.tombstone;
  if (!tomb) throw new Error('tombstoneStatement: the plan has no tombstone table');
  const keys = plan.keyColumns.map((c) => c.name);
  const pos = q(POSITION);
  const deletedAt = q(DELETED_AT);
  return (
    `MERGE INTO ${tomb.quoted} AS t USING ${q(plan.stage)} AS s ON ${match(keys, 't', 's')}\n` +
    `WHEN MATCHED AND ${newer} AND ${isDelete} THEN UPDATE SET ${pos} = s.${pos}, ${deletedAt} = s.${q(STAGE_DELETED_AT)}\n` +
    `WHEN MATCHED AND ${newer} THEN DELETE\n` +
    `WHEN NOT MATCHED AND ${isDelete} THEN INSERT (${list([...keys, POSITION, DELETED_AT])}) ` +
    `VALUES (${[...keys.map((k) => `s.${q(k)}`), `s.${pos}`, `s.${q(STAGE_DELETED_AT)}`].join(', ')})`
  );
}

/** Append mode: insert the staged rows whose identity (key, position, model version) is not there yet. */
export function appendStatement(plan: SnowflakeTablePlan): string {
  const all = plan.columns.map((c) => c.name);
  return (
    `MERGE INTO ${plan.quoted} AS t USING ${q(plan.stage)} AS s ON ${match(plan.identity, 't', 's')}\n` +
    `WHEN NOT MATCHED THEN INSERT (${list(all)}) VALUES (${list(all, 's.')})`
  );
}

/** The statements that move the staged rows into the target, in order. */
export function applyStatements(plan: SnowflakeTablePlan): string[] {
  if (plan.mode === 'append') return [appendStatement(plan)];
  return plan.tombstone ? [tombstoneStatement(plan), mergeStatement(plan)] : [mergeStatement(plan)];
}
