import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { appendAuditRecords } from './append.js';
import { auditObjects } from './sql.js';

export interface OverrideInput {
  key: string;
  /** The value a person decided instead (JSON if it parses, else the text). */
  value: string;
  by: string;
  reason: string;
  /** The decision overridden; default: the key's newest decision. */
  decisionId?: string;
}

export interface RecordedOverride {
  decisionId: string;
  overrides: string;
  chain: string;
  at: string;
}

/**
 * Records a human override of a decision in the same chain as that decision (so it is numbered and
 * hash-chained with it): `{type: 'override', decision_id, overrides, key, value, by, reason, at}`.
 * Throws when the key (or the decision id) has no decision in the log.
 */
export async function recordOverride(db: Knex, table: string, o: OverrideInput): Promise<RecordedOverride> {
  const t = auditObjects(table).quoted;
  const found = await db.raw<{ rows: { decision_id: string; chain: string; position: string }[] }>(
    o.decisionId === undefined
      ? `SELECT decision_id::text, chain, position::text FROM ${t} WHERE key = ? AND record->>'type' IS NULL ORDER BY written_at DESC, seq DESC LIMIT 1`
      : `SELECT decision_id::text, chain, position::text FROM ${t} WHERE decision_id = ?::uuid AND record->>'type' IS NULL LIMIT 1`,
    [o.decisionId ?? o.key],
  );
  const d = found.rows[0];
  if (d === undefined) {
    throw new Error(
      o.decisionId === undefined
        ? `no decision for key ${o.key} in ${table}`
        : `no decision ${o.decisionId} in ${table}`,
    );
  }
  let value: unknown = o.value;
  try {
    value = JSON.parse(o.value);
  } catch {
    // a plain text value
  }
  const at = new Date().toISOString();
  const decisionId = randomUUID();
  await appendAuditRecords(db, table, d.chain, [
    {
      key: o.key,
      position: d.position,
      record: {
        type: 'override',
        decision_id: decisionId,
        overrides: d.decision_id,
        key: o.key,
        value,
        by: o.by,
        reason: o.reason,
        at,
      },
    },
  ]);
  return { decisionId, overrides: d.decision_id, chain: d.chain, at };
}

/** Overrides per decision over the last `hours` (the override_rate metric). */
export async function overrideRate(db: Knex, table: string, hours = 24): Promise<number> {
  const t = auditObjects(table).quoted;
  const r = await db.raw<{ rows: { overrides: string; decisions: string }[] }>(
    `SELECT count(*) FILTER (WHERE record->>'type' = 'override') AS overrides,
            count(*) FILTER (WHERE record->>'type' IS NULL) AS decisions
     FROM ${t} WHERE written_at > now() - make_interval(hours => ?)`,
    [hours],
  );
  const row = r.rows[0];
  const decisions = Number(row?.decisions ?? 0);
  return decisions === 0 ? 0 : Number(row?.overrides ?? 0) / decisions;
}
