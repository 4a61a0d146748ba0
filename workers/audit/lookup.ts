import type { Knex } from 'knex';
import type { AuditObjects } from './sql.js';

/** One record of an audit log, found through its block's key or decision-id index. */
export interface FoundRecord {
  decisionId: string;
  chain: string;
  /** The record's seq in its chain. */
  seq: string;
  /** The entity key's text as the block keeps it. */
  key: string;
  record: Record<string, unknown>;
  writtenAt: Date;
}

export type RecordKind = 'decision' | 'override' | 'rollout';

/**
 * The records of `kind` with that key (or that decision id), newest first (write time, then seq);
 * `where` adds a condition on the record (`r`, jsonb) with its own bindings. Blocks are found by
 * their GIN index (`keys @>` / `decision_ids @>`), then only their matching records are parsed.
 */
export async function findRecords(
  db: Knex,
  o: AuditObjects,
  by: { key: string } | { decisionId: string },
  kind: RecordKind,
  opts: { limit?: number; chain?: string; where?: { sql: string; bindings: Knex.RawBinding[] } } = {},
): Promise<FoundRecord[]> {
  const byKey = 'key' in by;
  const match = byKey
    ? 'b.keys @> ARRAY[?::text] AND b.keys[x.i] = ?::text'
    : 'b.decision_ids @> ARRAY[?::uuid] AND b.decision_ids[x.i] = ?::uuid';
  const value = byKey ? by.key : by.decisionId;
  const res = await db.raw<{
    rows: {
      decision_id: string;
      chain: string;
      seq: string;
      key: string;
      r: Record<string, unknown>;
      written_at: Date;
    }[];
  }>(
    `SELECT * FROM (
       SELECT b.decision_ids[x.i]::text AS decision_id, b.chain, (b.seq - b.n + x.i)::text AS seq, b.keys[x.i] AS key,
         (string_to_array(convert_from(b.records, 'UTF8'), E'\\n'))[x.i]::jsonb AS r, b.written_at, b.seq AS block_seq, x.i
       FROM ${o.blocks} AS b CROSS JOIN LATERAL generate_subscripts(b.keys, 1) AS x(i)
       WHERE ${match} AND b.kind = ?${opts.chain === undefined ? '' : ' AND b.chain = ?'}
     ) AS f
     ${opts.where === undefined ? '' : `WHERE ${opts.where.sql}`}
     ORDER BY f.written_at DESC, f.block_seq DESC, f.i DESC
     ${opts.limit === undefined ? '' : `LIMIT ${Math.trunc(opts.limit)}`}`,
    [value, value, kind, ...(opts.chain === undefined ? [] : [opts.chain]), ...(opts.where?.bindings ?? [])],
  );
  return res.rows.map((x) => ({
    decisionId: x.decision_id,
    chain: x.chain,
    seq: x.seq,
    key: x.key,
    record: x.r,
    writtenAt: x.written_at,
  }));
}
