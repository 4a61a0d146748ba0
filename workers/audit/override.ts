import type { Knex } from 'knex';
import { Uuid7Source } from '../core/uuid7.js';
import { appendAuditRecords } from './append.js';
import { findRecords } from './lookup.js';
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
  const objects = auditObjects(table);
  const [d] = await findRecords(
    db,
    objects,
    o.decisionId === undefined ? { key: o.key } : { decisionId: o.decisionId },
    'decision',
    { limit: 1 },
  );
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
  const decisionId = new Uuid7Source().next();
  await appendAuditRecords(db, table, d.chain, [
    {
      // The decision's key text: its overrides are found by it (explain).
      key: d.key,
      record: {
        type: 'override',
        decision_id: decisionId,
        overrides: d.decisionId,
        key: o.key,
        value,
        by: o.by,
        reason: o.reason,
        at,
      },
    },
  ]);
  return { decisionId, overrides: d.decisionId, chain: d.chain, at };
}

/** Overrides per decision over the last `hours` (the override_rate metric). */
export async function overrideRate(db: Knex, table: string, hours = 24): Promise<number> {
  const blocks = auditObjects(table).blocks;
  const r = await db.raw<{ rows: { overrides: string; decisions: string }[] }>(
    `SELECT coalesce(sum(n) FILTER (WHERE kind = 'override'), 0) AS overrides,
            coalesce(sum(n) FILTER (WHERE kind = 'decision'), 0) AS decisions
     FROM ${blocks} WHERE written_at > now() - make_interval(hours => ?)`,
    [hours],
  );
  const row = r.rows[0];
  const decisions = Number(row?.decisions ?? 0);
  return decisions === 0 ? 0 : Number(row?.overrides ?? 0) / decisions;
}
