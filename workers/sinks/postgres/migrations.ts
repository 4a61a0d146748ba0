import type { Knex } from 'knex';
import { quoteIdent } from '../shared/identifiers.js';
import { toPipelineError } from './errors.js';
import { LOCK_NAMESPACE } from './statements.js';
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

/**
 * Creates the schema, then runs the sink's migrations with the bookkeeping table in that schema.
 *
 * Workers of a fleet start together, and knex's own bootstrap (creating the bookkeeping and lock
 * tables, inserting the lock row) is not safe against itself: concurrent starts fail with
 * duplicate-object errors or leave two lock rows, after which knex reports "already locked"
 * forever. So everything runs in one transaction holding an advisory lock for the schema: workers
 * queue, the first creates, the others find the migrations done. One connection suffices (pool_size 1).
 */
export async function migrateTable(db: Knex, plan: PostgresTablePlan, pipeline?: string): Promise<void> {
  const schemaName = plan.name.schema;
  try {
    await db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [
        LOCK_NAMESPACE,
        `migrations:${schemaName ?? ''}`,
      ]);
      if (schemaName !== undefined) await trx.raw(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schemaName)}`);
      await trx.migrate.latest({
        migrationSource: sinkMigrationSource(plan),
        tableName: MIGRATIONS_TABLE,
        ...(schemaName === undefined ? {} : { schemaName }),
        disableMigrationsListValidation: true,
      });
    });
  } catch (err) {
    throw toPipelineError(err, {
      table: plan.config.table,
      action: 'creating the table',
      ...(pipeline ? { pipeline } : {}),
    });
  }
}
