import type { Knex } from 'knex';
import { PipelineError } from '../../core/errors.js';
import { quoteIdent } from '../shared/identifiers.js';
import { toPipelineError } from './errors.js';
import { createTableStatements, type PostgresTablePlan } from './table.js';

/** knex's migration bookkeeping table, kept in the target schema (one per schema, shared by sinks). */
export const MIGRATIONS_TABLE = 'streamscore_migrations';

interface SinkMigration {
  name: string;
  statements: string[];
}

/**
 * A knex MigrationSource built from the sink's spec: one migration per object it creates
 * (`create table ml.x`, `create table ml.x__tombstones`), each `CREATE TABLE IF NOT EXISTS`, so a
 * table created by hand or by an older version is adopted, and a tombstone table is added when a
 * pipeline switches to `on_delete: delete`. Changing columns later is not a migration: the
 * verification after it reports the difference with the DDL to apply.
 */
export function sinkMigrationSource(plan: PostgresTablePlan): Knex.MigrationSource<SinkMigration> {
  const statements = createTableStatements(plan);
  const objects = [plan.config.table, ...(plan.tombstone ? [plan.tombstone.name.parts.join('.')] : [])];
  const migrations: SinkMigration[] = objects.map((obj, i) => ({
    name: `create table ${obj}`,
    statements: [statements[i]!],
  }));
  return {
    getMigrations: async () => migrations,
    getMigrationName: (m) => m.name,
    getMigration: async (m) => ({
      up: async (db: Knex) => {
        for (const sql of m.statements) await db.raw(sql);
      },
      down: async () => {
        throw new Error(`${m.name}: streamscore never drops prediction tables; drop it by hand`);
      },
    }),
  };
}

/** Errors of two workers creating the same objects at once: the engine retries `open`. */
function isCreationRace(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  const msg = err instanceof Error ? err.message : '';
  return code === '42P07' || code === '23505' || code === '42P06' || /already locked/i.test(msg);
}

/** Creates the schema, then runs the sink's migrations with the bookkeeping table in that schema. */
export async function migrateTable(db: Knex, plan: PostgresTablePlan, pipeline?: string): Promise<void> {
  const schemaName = plan.name.schema;
  try {
    if (schemaName !== undefined) await db.raw(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schemaName)}`);
    await db.migrate.latest({
      migrationSource: sinkMigrationSource(plan),
      tableName: MIGRATIONS_TABLE,
      ...(schemaName === undefined ? {} : { schemaName }),
      disableMigrationsListValidation: true,
    });
  } catch (err) {
    const where = {
      table: plan.config.table,
      action: 'creating the table',
      ...(pipeline ? { pipeline } : {}),
    };
    const wrapped = toPipelineError(err, where);
    if (!isCreationRace(err) || wrapped.retryable) throw wrapped;
    throw new PipelineError(`${wrapped.message} (another worker is creating it; retrying)`, {
      code: 'SINK_CONFLICT',
      stage: 'sink',
      retryable: true,
      ...(pipeline ? { pipeline } : {}),
      context: wrapped.context,
      cause: err,
    });
  }
}
