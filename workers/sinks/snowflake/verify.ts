import { PipelineError } from '../../core/errors.js';
import type { ColumnType } from '../shared/column-map.js';
import { quoteIdent, quoteLiteral } from '../shared/identifiers.js';
import type { SnowflakeSession } from './client.js';
import { DELETED_AT, POSITION, type SnowflakeTablePlan, snowflakeDdl, snowflakeType } from './table.js';

/** A row of INFORMATION_SCHEMA.COLUMNS. */
export interface FoundColumn {
  table: string;
  name: string;
  /** NUMBER, FLOAT, TEXT, BOOLEAN, TIMESTAMP_TZ, … */
  dataType: string;
  precision: number | null;
  scale: number | null;
  nullable: boolean;
  hasDefault: boolean;
}

interface ExpectedColumn {
  name: string;
  type: ColumnType;
}

/** INFORMATION_SCHEMA data types a column of each logical type may have. */
const COMPATIBLE: Record<ColumnType, readonly string[]> = {
  float: ['FLOAT', 'NUMBER'],
  int: ['NUMBER', 'FLOAT'],
  string: ['TEXT'],
  bool: ['BOOLEAN'],
  position: ['NUMBER'],
  timestamp: ['TIMESTAMP_TZ', 'TIMESTAMP_LTZ'],
};

function compatible(type: ColumnType, f: FoundColumn): boolean {
  if (!COMPATIBLE[type].includes(f.dataType)) return false;
  if (f.dataType !== 'NUMBER') return true;
  const scale = f.scale ?? 0;
  // Positions have up to 38 integer digits; integers need scale 0.
  if (type === 'position') return scale === 0 && (f.precision ?? 38) >= 38;
  if (type === 'int') return scale === 0;
  return true;
}

function describe(f: FoundColumn): string {
  return f.dataType === 'NUMBER' && f.precision !== null
    ? `NUMBER(${f.precision},${f.scale ?? 0})`
    : f.dataType;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** The columns of the given tables of one schema, from `<database>.INFORMATION_SCHEMA.COLUMNS`. */
export async function readColumns(
  session: SnowflakeSession,
  plan: SnowflakeTablePlan,
  tables: readonly string[],
  tag?: string,
): Promise<FoundColumn[]> {
  // Names are validated identifiers (upper case), inlined as literals so the query needs no binds.
  const rows = await session.execute(
    `SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, IS_NULLABLE, COLUMN_DEFAULT ` +
      `FROM ${quoteIdent(plan.database)}.INFORMATION_SCHEMA.COLUMNS ` +
      `WHERE TABLE_SCHEMA = ${quoteLiteral(plan.schema)} AND TABLE_NAME IN (${tables.map(quoteLiteral).join(', ')}) ` +
      `ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    tag === undefined ? {} : { tag },
  );
  return rows.map((r) => ({
    table: String(r['TABLE_NAME']),
    name: String(r['COLUMN_NAME']),
    dataType: String(r['DATA_TYPE']).toUpperCase(),
    precision: num(r['NUMERIC_PRECISION']),
    scale: num(r['NUMERIC_SCALE']),
    nullable: String(r['IS_NULLABLE']).toUpperCase() !== 'NO',
    hasDefault: r['COLUMN_DEFAULT'] !== null && r['COLUMN_DEFAULT'] !== undefined,
  }));
}

function schemaError(
  code: 'SINK_TABLE_MISSING' | 'SINK_SCHEMA_MISMATCH',
  message: string,
  plan: SnowflakeTablePlan,
  pipeline?: string,
): PipelineError {
  return new PipelineError(message, {
    code,
    stage: 'sink',
    retryable: false,
    ...(pipeline === undefined ? {} : { pipeline }),
    context: { table: plan.display },
  });
}

/** The problems of one table and the statements that fix them. */
export function compareColumns(
  quoted: string,
  expected: readonly ExpectedColumn[],
  found: readonly FoundColumn[],
): { problems: string[]; fixes: string[] } {
  const byName = new Map(found.map((f) => [f.name, f]));
  const problems: string[] = [];
  const fixes: string[] = [];
  for (const col of expected) {
    const f = byName.get(col.name);
    const want = snowflakeType(col.type);
    if (f === undefined) {
      const other = found.find((x) => x.name.toUpperCase() === col.name);
      problems.push(
        other
          ? `column ${col.name}: expected ${want}, found only the case-sensitive "${other.name}" (names here are unquoted identifiers, i.e. upper case)`
          : `missing column ${col.name}: expected ${want}, found none`,
      );
      fixes.push(`ALTER TABLE ${quoted} ADD COLUMN ${quoteIdent(col.name)} ${want};`);
    } else if (!compatible(col.type, f)) {
      problems.push(`column ${col.name}: expected ${want}, found ${describe(f)}`);
      fixes.push(
        `ALTER TABLE ${quoted} RENAME COLUMN ${quoteIdent(col.name)} TO ${quoteIdent(`${col.name}_OLD`)};`,
        `ALTER TABLE ${quoted} ADD COLUMN ${quoteIdent(col.name)} ${want};`,
      );
    }
  }
  const wanted = new Set(expected.map((c) => c.name));
  for (const f of found) {
    if (!wanted.has(f.name) && !f.nullable && !f.hasDefault) {
      problems.push(`column ${f.name} is NOT NULL without a default, but the sink does not write it`);
      fixes.push(`ALTER TABLE ${quoted} ALTER COLUMN ${quoteIdent(f.name)} DROP NOT NULL;`);
    }
  }
  return { problems, fixes };
}

/**
 * Checks that the target table (and the tombstone table) exist with every column the sink writes at
 * a compatible type, and that no other column needs a value. Throws terminal SINK_TABLE_MISSING /
 * SINK_SCHEMA_MISMATCH errors naming the table, expected and found types, and the DDL that fixes it.
 */
export async function verifyTable(
  session: SnowflakeSession,
  plan: SnowflakeTablePlan,
  options: { pipeline?: string; tag?: string } = {},
): Promise<void> {
  const targets: { table: string; quoted: string; expected: ExpectedColumn[] }[] = [
    {
      table: plan.table,
      quoted: plan.quoted,
      expected: [
        ...plan.columns.map((c) => ({ name: c.name, type: c.type })),
        ...(plan.deletedAt ? [{ name: plan.deletedAt, type: 'timestamp' as const }] : []),
      ],
    },
  ];
  if (plan.tombstone) {
    targets.push({
      table: plan.tombstone.table,
      quoted: plan.tombstone.quoted,
      expected: [
        ...plan.keyColumns.map((c) => ({ name: c.name, type: c.type })),
        { name: POSITION, type: 'position' },
        { name: DELETED_AT, type: 'timestamp' },
      ],
    });
  }
  const found = await readColumns(
    session,
    plan,
    targets.map((t) => t.table),
    options.tag,
  );
  const missing = targets.filter((t) => !found.some((f) => f.table === t.table));
  if (missing.length > 0) {
    const names = missing.map((t) => t.quoted).join(' and ');
    const message = plan.config.create_table
      ? `snowflake sink: created table ${names} (create_table: true), then found no such table: it was ` +
        'dropped while the sink opened, or the role cannot see it (it needs USAGE on the database and ' +
        'schema and privileges on the table). Restart the worker to create it again.'
      : `snowflake sink: expected table ${names} to exist (create_table is false), ` +
        `found no such table (or the role has no privilege on it). Create it with:\n\n${snowflakeDdl(plan)}\n\n` +
        'or set create_table: true (the role then needs CREATE TABLE on the schema).';
    throw schemaError('SINK_TABLE_MISSING', message, plan, options.pipeline);
  }
  const problems: string[] = [];
  const fixes: string[] = [];
  for (const t of targets) {
    const r = compareColumns(
      t.quoted,
      t.expected,
      found.filter((f) => f.table === t.table),
    );
    problems.push(...r.problems.map((p) => `${t.table}: ${p}`));
    fixes.push(...r.fixes);
  }
  if (problems.length > 0) {
    throw schemaError(
      'SINK_SCHEMA_MISMATCH',
      `snowflake sink: table ${plan.quoted} does not match the sink's columns:\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        `\nFix it with (copy the data over from *_OLD columns if you need it):\n${fixes.map((f) => `  ${f}`).join('\n')}\n` +
        `or compare with the DDL the sink expects:\n\n${snowflakeDdl(plan)}`,
      plan,
      options.pipeline,
    );
  }
}
