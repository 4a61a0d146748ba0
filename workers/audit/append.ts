import type { Knex } from 'knex';
import { AUDIT_DDL_LOCK, auditDdl, auditObjects } from './sql.js';

/** One record appended outside a prediction write (an override, a rollout event). */
export interface ExtraAuditRecord {
  /** The entity key's text (`-` for events about no entity). */
  key: string;
  /** The ordering position it refers to (0 when none). */
  position: string;
  /** The record (must carry a `decision_id` uuid). */
  record: Record<string, unknown>;
}

/**
 * Appends records to one chain of a pipeline's audit log, through the same append function as the
 * sink (so they are numbered and hash-chained like every decision); creates the log when missing.
 */
export async function appendAuditRecords(
  db: Knex,
  table: string,
  chain: string,
  records: readonly ExtraAuditRecord[],
): Promise<number> {
  const o = auditObjects(table);
  await db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [AUDIT_DDL_LOCK, table]);
    for (const s of auditDdl(o)) await trx.raw(s);
    await trx.raw(`SELECT ${o.maintainFn}(?)`, [36500]);
  });
  const res = await db.raw<{ rows: { n: string }[] }>(
    `SELECT ${o.appendFn}(?::text[], ?::text[], ?::numeric[], ?::jsonb[]) AS n`,
    [
      records.map(() => chain),
      records.map((r) => r.key),
      records.map((r) => r.position),
      records.map((r) => JSON.stringify(r.record)),
    ],
  );
  return Number(res.rows[0]?.n ?? 0);
}
