import type { Knex } from 'knex';
import { PipelineError } from '../../core/errors.js';
import type { ColumnType } from '../shared/column-map.js';
import { quoteIdent, type TableName } from '../shared/identifiers.js';
import { sqlType } from '../shared/sql-types.js';
import { DELETED_AT, POSITION, type PostgresTablePlan, postgresDdl } from './table.js';

interface FoundColumn {
  column_name: string;
  data_type: string;
  numeric_precision: number | null;
  numeric_scale: number | null;
}

interface ExpectedColumn {
  name: string;
  type: ColumnType;
}

/** information_schema `data_type`s a column of each logical type may have. */
const COMPATIBLE: Record<ColumnType, readonly string[]> = {
  float: ['double precision', 'real', 'numeric'],
  int: ['bigint', 'integer', 'smallint', 'numeric'],
  string: ['text', 'character varying', 'character'],
  bool: ['boolean'],
  position: ['numeric'],
  timestamp: ['timestamp with time zone'],
};

function compatible(type: ColumnType, found: FoundColumn): boolean {
  if (!COMPATIBLE[type].includes(found.data_type)) return false;
  if (type === 'position') {
    // Positions have up to 38 integer digits: unconstrained numeric, or precision − scale ≥ 38.
    return found.numeric_precision === null || found.numeric_precision - (found.numeric_scale ?? 0) >= 38;
  }
  return true;
}

function describeFound(c: FoundColumn): string {
  return c.data_type === 'numeric' && c.numeric_precision !== null
    ? `numeric(${c.numeric_precision},${c.numeric_scale ?? 0})`
    : c.data_type;
}

async function readColumns(db: Knex, name: TableName): Promise<Map<string, FoundColumn>> {
  const schema = name.schema === undefined ? 'current_schema()' : '?';
  const bindings = name.schema === undefined ? [name.table] : [name.schema, name.table];
  const res = await db.raw<{ rows: FoundColumn[] }>(
    `SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_schema = ${schema} AND table_name = ?`,
    bindings,
  );
  return new Map(res.rows.map((r) => [r.column_name, r]));
}

/** Whether a non-partial unique index (or primary key) covers exactly `columns`: ON CONFLICT needs one. */
async function hasUniqueIndexOn(db: Knex, quoted: string, columns: readonly string[]): Promise<boolean> {
  const res = await db.raw<{ rows: { cols: string[] }[] }>(
    `SELECT array_agg(a.attname::text ORDER BY a.attname) AS cols
       FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
      WHERE i.indrelid = to_regclass(?) AND i.indisunique AND i.indpred IS NULL
      GROUP BY i.indexrelid`,
    [quoted],
  );
  const want = [...columns].sort().join('\u0000');
  return res.rows.some((r) => [...r.cols].sort().join('\u0000') === want);
}

function schemaError(
  code: 'SINK_TABLE_MISSING' | 'SINK_SCHEMA_MISMATCH',
  message: string,
  plan: PostgresTablePlan,
  pipeline?: string,
) {
  return new PipelineError(message, {
    code,
    stage: 'sink',
    retryable: false,
    ...(pipeline === undefined ? {} : { pipeline }),
    context: { table: plan.config.table },
  });
}

async function checkTable(
  db: Knex,
  plan: PostgresTablePlan,
  name: TableName,
  quoted: string,
  expected: readonly ExpectedColumn[],
  keys: readonly string[],
  pipeline?: string,
): Promise<void> {
  const found = await readColumns(db, name);
  if (found.size === 0) {
    const message = plan.config.create_table
      ? `postgres sink: created table ${quoted} (create_table: true), then found no such table: it was ` +
        'dropped while the sink opened, or the role cannot see it (it needs USAGE on the schema and ' +
        'SELECT, INSERT, UPDATE, DELETE on the table). Restart the worker to create it again.'
      : `postgres sink: expected table ${quoted} to exist (create_table is false), found no such table ` +
        `(or no privilege to see it). Create it with:\n\n${postgresDdl(plan)}\n\nor set create_table: true.`;
    throw schemaError('SINK_TABLE_MISSING', message, plan, pipeline);
  }
  const problems: string[] = [];
  const fixes: string[] = [];
  for (const col of expected) {
    const f = found.get(col.name);
    const want = sqlType(col.type);
    if (f === undefined) {
      problems.push(`missing column ${col.name}: expected ${want}, found none`);
      fixes.push(`ALTER TABLE ${quoted} ADD COLUMN ${quoteIdent(col.name)} ${want};`);
    } else if (!compatible(col.type, f)) {
      problems.push(`column ${col.name}: expected ${want}, found ${describeFound(f)}`);
      fixes.push(
        `ALTER TABLE ${quoted} ALTER COLUMN ${quoteIdent(col.name)} TYPE ${want} USING ${quoteIdent(col.name)}::${want};`,
      );
    }
  }
  if (problems.length === 0 && !(await hasUniqueIndexOn(db, quoted, keys))) {
    problems.push(`no primary key or unique index on (${keys.join(', ')}): expected one for ON CONFLICT`);
    fixes.push(`ALTER TABLE ${quoted} ADD PRIMARY KEY (${keys.map(quoteIdent).join(', ')});`);
  }
  if (problems.length > 0) {
    throw schemaError(
      'SINK_SCHEMA_MISMATCH',
      `postgres sink: table ${quoted} does not match the sink's columns:\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        `\nFix it with:\n${fixes.map((f) => `  ${f}`).join('\n')}`,
      plan,
      pipeline,
    );
  }
}

/**
 * Checks that the target table (and in `delete` mode the tombstone table) exists with every mapped
 * and metadata column at a compatible type and a unique index on the key. Throws terminal
 * SINK_TABLE_MISSING / SINK_SCHEMA_MISMATCH errors naming the table, the columns, expected and
 * found types, and the DDL that fixes it.
 */
export async function verifyTable(db: Knex, plan: PostgresTablePlan, pipeline?: string): Promise<void> {
  const keys = plan.keyColumns.map((c) => c.name);
  const expected: ExpectedColumn[] = plan.columns.map((c) => ({ name: c.name, type: c.type }));
  if (plan.deletedAt) expected.push({ name: plan.deletedAt, type: 'timestamp' });
  await checkTable(db, plan, plan.name, plan.quoted, expected, keys, pipeline);
  if (plan.tombstone) {
    const tomb: ExpectedColumn[] = [
      ...plan.keyColumns.map((c) => ({ name: c.name, type: c.type })),
      { name: POSITION, type: 'position' },
      { name: DELETED_AT, type: 'timestamp' },
    ];
    await checkTable(db, plan, plan.tombstone.name, plan.tombstone.quoted, tomb, keys, pipeline);
  }
}
