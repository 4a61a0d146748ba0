import type { Knex } from 'knex';
import { BlockText } from './block-text.js';
import { AUDIT_DDL_LOCK, auditDdl, auditObjects } from './sql.js';

/** One record appended outside a prediction write (an override, a rollout event). */
export interface ExtraAuditRecord {
  /** The entity key's text (`-` for events about no entity). */
  key: string;
  /** The record (must carry a `decision_id` uuid and a `type`: `override`, `rollout`). */
  record: { decision_id: string; type: string } & Record<string, unknown>;
}

/**
 * Appends records to one chain of a pipeline's audit log as one block of their `type`, through the
 * same append function as the sink (so they are numbered and hash-chained like every decision);
 * creates the log when missing.
 */
export async function appendAuditRecords(
  db: Knex,
  table: string,
  chain: string,
  records: readonly ExtraAuditRecord[],
): Promise<number> {
  const o = auditObjects(table);
  const kinds = new Set(records.map((r) => r.record.type));
  if (kinds.size !== 1)
    throw new Error(`audit: one block holds records of one type, not ${[...kinds].join(', ')}`);
  await db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [AUDIT_DDL_LOCK, table]);
    for (const s of auditDdl(o)) await trx.raw(s);
    await trx.raw(`SELECT ${o.maintainFn}(?)`, [36500]);
  });
  const block = new BlockText(records.length);
  for (const r of records) block.add(JSON.stringify(r.record));
  const res = await db.raw<{ rows: { n: string }[] }>(
    `SELECT ${o.appendFn}(?::text, ?::text, ?::text[], ?::uuid[], ?::bytea, ?::bytea) AS n`,
    [
      chain,
      [...kinds][0]!,
      records.map((r) => r.key),
      records.map((r) => r.record.decision_id),
      block.bytes,
      block.hashes,
    ],
  );
  return Number(res.rows[0]?.n ?? 0);
}
