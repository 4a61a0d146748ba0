import type { Knex } from 'knex';
import { quoteIdent } from '../shared/identifiers.js';
import { toPipelineError } from './errors.js';
import { LOCK_NAMESPACE } from './statements.js';
import { createTableStatements, type PostgresTablePlan } from './table.js';

/** knex's migration bookkeeping table, kept in the target schema (one per schema, shared by sinks). */
export const MIGRATIONS_TABLE = 'streamscore_migrations';

interface SinkMigration {
  name: string;
  /** The table the migration creates, as the config names it (`ml.x`) and quoted. */
  table: string;
  creates: string;
  statements: string[];
}

/** One migration per object the sink creates: the table, then (on_delete: delete) its tombstone table. */
function sinkMigrations(plan: PostgresTablePlan): SinkMigration[] {
  const statements = createTableStatements(plan);
  const objects = [
    { name: plan.config.table, quoted: plan.quoted },
    ...(plan.tombstone ? [{ name: plan.tombstone.name.parts.join('.'), quoted: plan.tombstone.quoted }] : []),
  ];
  return objects.map((obj, i) => ({
    name: `create table ${obj.name}`,
    table: obj.name,
    creates: obj.quoted,
    statements: [statements[i]!],
  }));
}

/**
 * A knex MigrationSource built from the sink's spec: one migration per object it creates
 * (`create table ml.x`, `create table ml.x__tombstones`), each `CREATE TABLE IF NOT EXISTS`, so a
 * table created by hand or by an older version is adopted, and a tombstone table is added when a
 * pipeline switches to `on_delete: delete`. Changing columns later is not a migration: the
 * verification after it reports the difference with the DDL to apply.
 */
export function sinkMigrationSource(plan: PostgresTablePlan): Knex.MigrationSource<SinkMigration> {
  const migrations = sinkMigrations(plan);
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
 * Forgets the recorded migrations whose table no longer exists (dropped by hand since), so that
 * `migrate.latest` runs them again: the bookkeeping says what was done once, the catalog says what
 * is there now. Returns the names of the tables to be re-created.
 */
async function forgetDroppedTables(
  trx: Knex.Transaction,
  plan: PostgresTablePlan,
  schemaName: string | undefined,
): Promise<string[]> {
  const bookkeeping = [...(schemaName === undefined ? [] : [schemaName]), MIGRATIONS_TABLE]
    .map(quoteIdent)
    .join('.');
  const present = await trx.raw<{ rows: { present: boolean }[] }>(
    'SELECT to_regclass(?) IS NOT NULL AS present',
    [bookkeeping],
  );
  if (!present.rows[0]?.present) return [];
  const migrations = sinkMigrations(plan);
  const res = await trx.raw<{ rows: { name: string }[] }>(
    `DELETE FROM ${bookkeeping} AS b USING unnest(?::text[], ?::text[]) AS m(name, creates)
      WHERE b.name = m.name AND to_regclass(m.creates) IS NULL RETURNING b.name`,
    [migrations.map((m) => m.name), migrations.map((m) => m.creates)],
  );
  const forgotten = new Set(res.rows.map((r) => r.name));
  return migrations.filter((m) => forgotten.has(m.name)).map((m) => m.table);
}

/**
 * Creates the schema, then runs the sink's migrations with the bookkeeping table in that schema.
 *
 * Workers of a fleet start together, and knex's own bootstrap (creating the bookkeeping and lock
 * tables, inserting the lock row) is not safe against itself: concurrent starts fail with
 * duplicate-object errors or leave two lock rows, after which knex reports "already locked"
 * forever. So everything runs in one transaction holding an advisory lock for the schema: workers
 * queue, the first creates, the others find the migrations done. One connection suffices (pool_size 1).
 *
 * A recorded migration whose table has been dropped since is forgotten first and runs again: with
 * create_table: true a dropped prediction table comes back (empty) at the next start. Returns the
 * tables re-created that way.
 */
export async function migrateTable(
  db: Knex,
  plan: PostgresTablePlan,
  pipeline?: string,
): Promise<{ recreated: string[] }> {
  const schemaName = plan.name.schema;
  try {
    return await db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [
        LOCK_NAMESPACE,
        `migrations:${schemaName ?? ''}`,
      ]);
      if (schemaName !== undefined) await trx.raw(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schemaName)}`);
      const recreated = await forgetDroppedTables(trx, plan, schemaName);
      await trx.migrate.latest({
        migrationSource: sinkMigrationSource(plan),
        tableName: MIGRATIONS_TABLE,
        ...(schemaName === undefined ? {} : { schemaName }),
        disableMigrationsListValidation: true,
      });
      return { recreated };
    });
  } catch (err) {
    throw toPipelineError(err, {
      table: plan.config.table,
      action: 'creating the table',
      ...(pipeline ? { pipeline } : {}),
    });
  }
}
