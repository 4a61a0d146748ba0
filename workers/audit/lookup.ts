import type { Knex } from 'knex';
import { uuid7Floor } from '../core/uuid7.js';
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
 * their keys' GIN index (`keys @>`) or their decision ids' range (`id_min`, `id_max`), then only
 * their matching records are parsed.
 */
export async function findRecords(
  db: Knex,
  o: AuditObjects,
  by: { key: string } | { decisionId: string },
  kind: RecordKind,
  opts: { limit?: number; chain?: string; where?: { sql: string; bindings: Knex.RawBinding[] } } = {},
): Promise<FoundRecord[]> {
  if ('key' in by)
    return recordsWhere(
      db,
      o,
      'b.keys @> ARRAY[?::text] AND b.keys[x.i] = ?::text',
      [by.key, by.key],
      kind,
      opts,
    );
  // A decision's block holds its id between its least and greatest: first among the blocks whose
  // least id is at most an hour older than the id (a UUIDv7 carries its time: an index range),
  // then, if none, among all.
  const id = by.decisionId;
  const match =
    'b.id_min <= ?::uuid AND b.id_max >= ?::uuid AND b.decision_ids @> ARRAY[?::uuid] AND b.decision_ids[x.i] = ?::uuid';
  const floor = uuid7Floor(id, 3_600_000);
  if (floor !== undefined) {
    const near = await recordsWhere(
      db,
      o,
      `b.id_min >= ?::uuid AND ${match}`,
      [floor, id, id, id, id],
      kind,
      opts,
    );
    if (near.length > 0) return near;
  }
  return recordsWhere(db, o, match, [id, id, id, id], kind, opts);
}

async function recordsWhere(
  db: Knex,
  o: AuditObjects,
  match: string,
  values: Knex.RawBinding[],
  kind: RecordKind,
  opts: { limit?: number; chain?: string; where?: { sql: string; bindings: Knex.RawBinding[] } },
): Promise<FoundRecord[]> {
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
    [...values, kind, ...(opts.chain === undefined ? [] : [opts.chain]), ...(opts.where?.bindings ?? [])],
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
