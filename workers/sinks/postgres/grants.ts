import { quoteIdent } from '../shared/identifiers.js';
import type { PostgresTablePlan } from './table.js';

/** The role a sink connects as: its url's user name (`<sink role>` when the url names none). */
export function sinkRole(url: string): string {
  try {
    const user = decodeURIComponent(new URL(url).username);
    return user === '' ? '<sink role>' : user;
  } catch {
    return '<sink role>';
  }
}

/**
 * The least privileges a Postgres sink's role needs, as GRANT statements (what `streamscore plan`
 * prints under the DDL):
 *
 * - USAGE on the schema; SELECT, INSERT, UPDATE on the table (the order guard reads the stored
 *   position); DELETE too with `on_delete: delete`, and on its tombstone table SELECT, INSERT,
 *   UPDATE, DELETE (upserts drop the tombstones they supersede);
 * - TEMP on the database for COPY writes (`write_mode` auto or copy), which PUBLIC has by default;
 * - no CREATE: with `create_table: false` the tables are created beforehand by their owner (the
 *   DDL above). With `create_table: true` the role needs CREATE on the schema (on the database too
 *   when the schema is missing) and then owns what it creates.
 */
export function postgresGrants(plan: PostgresTablePlan, role: string): string[] {
  const r = role.startsWith('<') ? role : quoteIdent(role);
  const out: string[] = [];
  if (plan.name.schema !== undefined)
    out.push(`GRANT USAGE ON SCHEMA ${quoteIdent(plan.name.schema)} TO ${r}`);
  const own = plan.onDelete === 'delete' ? 'SELECT, INSERT, UPDATE, DELETE' : 'SELECT, INSERT, UPDATE';
  out.push(`GRANT ${own} ON ${plan.quoted} TO ${r}`);
  if (plan.tombstone) out.push(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${plan.tombstone.quoted} TO ${r}`);
  if (plan.config.create_table && plan.name.schema !== undefined) {
    out.push(`GRANT CREATE ON SCHEMA ${quoteIdent(plan.name.schema)} TO ${r} -- create_table: true`);
  }
  const lines = out.map((s) => (s.includes(' -- ') ? s.replace(' -- ', '; -- ') : `${s};`));
  if (plan.config.write_mode === 'auto' || plan.config.write_mode === 'copy') {
    lines.push('-- COPY writes also need TEMP on the database (PUBLIC has it unless revoked)');
  }
  return lines;
}
