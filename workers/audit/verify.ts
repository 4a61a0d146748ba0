import type { Knex } from 'knex';
import { Secret } from '../core/secret.js';
import { createPostgresKnex } from '../sinks/postgres/client.js';
import { type AuditObjects, auditObjects } from './sql.js';

/** What is wrong at a chain's first break. */
export type AuditBreakKind =
  /** The record's hash does not match its content: the record (or its hash) was changed. */
  | 'altered'
  /** Its seq does not follow the previous retained record's: records were deleted before it. */
  | 'missing'
  /** Its prev_hash is not the previous record's hash (or not 'genesis' at seq 1). */
  | 'chain'
  /** The decision context it names (`__contexts`) is missing, or its text no longer has that sha256. */
  | 'context'
  /** The chain's newest record is not the one its head row names. */
  | 'head';

export interface AuditBreak {
  chain: string;
  kind: AuditBreakKind;
  /** The record at which the chain breaks (for `head`: the newest record found); null if none. */
  seq: string | null;
  decisionId: string | null;
  message: string;
}

export interface AuditVerifyReport {
  table: string;
  /** ISO time of `--since`; undefined = every retained record. */
  since?: string | undefined;
  /** Chains with records in the span checked. */
  chains: number;
  records: number;
  /** Write times of the first and last record checked (null without any). */
  first: string | null;
  last: string | null;
  intact: boolean;
  /** The first break of each broken chain, by chain. */
  breaks: AuditBreak[];
  /** What the reader should know that is not a break. */
  notes: string[];
}

export interface AuditVerifyOptions {
  /** Check only records written since (the first one's predecessor is then not checked). */
  since?: Date | undefined;
}

/** Thrown when the audit table does not exist: nothing to verify (a configuration error). */
export class AuditTableMissing extends Error {}

/**
 * The record hash, as the table's `__hash` function computes it (see auditDdl in sql.ts), written
 * out here rather than called: a function replaced in the database cannot make verify agree.
 */
function hashSql(prev: string, rec: string, at: string): string {
  return `encode(sha256(convert_to(${prev} || '|' || (extract(epoch FROM ${at}) * 1000000)::bigint::text || '|' || ${rec}::text, 'UTF8')), 'hex')`;
}

/**
 * The first break of each chain among the records in the span: the records of a chain in seq
 * order, each record's hash recomputed, its seq the previous one's + 1, its prev_hash the previous
 * one's hash ('genesis' for seq 1). The first record of the span may have seq > 1 (older days
 * dropped by retention, or before --since): its predecessor is not checked.
 */
function breaksSql(o: AuditObjects, since: boolean): string {
  return `WITH r AS (
  SELECT chain, seq, decision_id::text AS decision_id, prev_hash, hash,
    ${hashSql('prev_hash', 'record', 'written_at')} AS recomputed,
    lag(seq) OVER w AS prev_seq,
    lag(hash) OVER w AS prev_record_hash,
    record->>'context' AS context_id
  FROM ${o.quoted}
  ${since ? `WHERE written_day >= (?::timestamptz AT TIME ZONE 'UTC')::date AND written_at >= ?::timestamptz` : ''}
  WINDOW w AS (PARTITION BY chain ORDER BY seq)
), b AS (
  SELECT chain, seq, decision_id, prev_seq, context_id,
    CASE
      WHEN recomputed IS DISTINCT FROM hash THEN 'altered'
      WHEN prev_seq IS NOT NULL AND seq <> prev_seq + 1 THEN 'missing'
      WHEN prev_seq IS NULL AND seq = 1 AND prev_hash IS DISTINCT FROM 'genesis' THEN 'chain'
      WHEN prev_seq IS NOT NULL AND prev_hash IS DISTINCT FROM prev_record_hash THEN 'chain'
      WHEN r.context_id IS NOT NULL AND c.intact IS NOT TRUE THEN 'context'
    END AS kind
  FROM r
  LEFT JOIN (
    SELECT id, encode(sha256(convert_to(context, 'UTF8')), 'hex') = id AS intact FROM ${o.contexts}
  ) AS c ON c.id = r.context_id
)
SELECT DISTINCT ON (b.chain) b.chain, b.seq::text AS seq, b.prev_seq::text AS prev_seq, b.decision_id, b.kind, b.context_id
FROM b WHERE b.kind IS NOT NULL
ORDER BY b.chain, b.seq`;
}

/** Per chain with records in the span: how many, and their write times. */
function spanSql(o: AuditObjects, since: boolean): string {
  return `SELECT chain, count(*)::text AS n, min(written_at) AS first, max(written_at) AS last
FROM ${o.quoted}
${since ? `WHERE written_day >= (?::timestamptz AT TIME ZONE 'UTC')::date AND written_at >= ?::timestamptz` : ''}
GROUP BY chain`;
}

/**
 * Each head row beside its chain's newest record (whatever --since: deleting the newest records
 * leaves a head that names a record no longer there).
 */
function headsSql(o: AuditObjects): string {
  return `SELECT h.chain, h.seq::text AS head_seq, h.hash AS head_hash,
  l.seq::text AS last_seq, l.hash AS last_hash, l.decision_id::text AS decision_id
FROM ${o.heads} AS h
LEFT JOIN LATERAL (
  SELECT t.seq, t.hash, t.decision_id FROM ${o.quoted} AS t
  WHERE t.chain = h.chain ORDER BY t.seq DESC LIMIT 1
) AS l ON true`;
}

interface BreakRow {
  chain: string;
  seq: string;
  prev_seq: string | null;
  decision_id: string;
  kind: 'altered' | 'missing' | 'chain' | 'context';
  context_id: string | null;
}

interface SpanRow {
  chain: string;
  n: string;
  first: Date;
  last: Date;
}

interface HeadRow {
  chain: string;
  head_seq: string;
  head_hash: string;
  last_seq: string | null;
  last_hash: string | null;
  decision_id: string | null;
}

function recordBreak(r: BreakRow): AuditBreak {
  const at = `seq ${r.seq}, decision ${r.decision_id}`;
  let message: string;
  switch (r.kind) {
    case 'altered':
      message = `record altered: its hash does not match its content (${at})`;
      break;
    case 'missing': {
      const prev = BigInt(r.prev_seq ?? '0');
      const gap = BigInt(r.seq) - prev - 1n;
      message =
        gap > 0n
          ? `records missing before it: seq ${r.prev_seq} is followed by seq ${r.seq} (${gap} missing; ${at})`
          : `seq out of order: seq ${r.seq} follows seq ${r.prev_seq} (${at})`;
      break;
    }
    case 'chain':
      message =
        r.prev_seq === null
          ? `chain broken: seq 1 does not start from 'genesis' (${at})`
          : `chain broken: its prev_hash is not the hash of seq ${r.prev_seq} (that record rewritten, hash included?) (${at})`;
      break;
    case 'context':
      message = `context ${r.context_id} (pipeline, worker, model) missing or altered: its text no longer has that sha256 (${at})`;
      break;
  }
  return { chain: r.chain, kind: r.kind, seq: r.seq, decisionId: r.decision_id, message };
}

function headBreak(h: HeadRow): AuditBreak | undefined {
  if (h.last_seq === null) return undefined;
  if (h.last_seq === h.head_seq && h.last_hash === h.head_hash) return undefined;
  const last = `the newest record is seq ${h.last_seq} (decision ${h.decision_id})`;
  const headSeq = BigInt(h.head_seq);
  const lastSeq = BigInt(h.last_seq);
  const message =
    lastSeq < headSeq
      ? `head mismatch: the head is at seq ${h.head_seq} but ${last}: the newest ${headSeq - lastSeq} record(s) are missing`
      : lastSeq > headSeq
        ? `head mismatch: the head is at seq ${h.head_seq} but ${last}: records after the head`
        : `head mismatch: ${last} but its hash is not the head's`;
  return { chain: h.chain, kind: 'head', seq: h.last_seq, decisionId: h.decision_id, message };
}

/**
 * Recomputes every hash chain of an audit table (in one snapshot: writers may go on meanwhile) and
 * reports the first break of each chain.
 */
export async function verifyAudit(
  url: string,
  table: string,
  opts: AuditVerifyOptions = {},
): Promise<AuditVerifyReport> {
  const o = auditObjects(table);
  const knex = createPostgresKnex(
    { url: new Secret(url), pool_size: 1 },
    { applicationName: 'streamscore-audit-verify' },
  );
  try {
    const exists = await knex.raw<{ rows: { t: string | null; h: string | null; c: string | null }[] }>(
      'SELECT to_regclass(?) AS t, to_regclass(?) AS h, to_regclass(?) AS c',
      [o.quoted, o.heads, o.contexts],
    );
    const found = exists.rows[0];
    if (!found?.t || !found.h || !found.c) {
      throw new AuditTableMissing(
        `audit table ${table} ${found?.t ? `has no ${found.h ? 'contexts' : 'heads'} table` : 'does not exist'} (no worker has written with spec.audit to this database yet?)`,
      );
    }
    return await knex.transaction((trx) => check(trx, o, table, opts.since), {
      isolationLevel: 'repeatable read',
      readOnly: true,
    });
  } finally {
    await knex.destroy();
  }
}

async function check(
  trx: Knex.Transaction,
  o: AuditObjects,
  table: string,
  since: Date | undefined,
): Promise<AuditVerifyReport> {
  const sinceBindings = since === undefined ? [] : [since.toISOString(), since.toISOString()];
  const brk = await trx.raw<{ rows: BreakRow[] }>(breaksSql(o, since !== undefined), sinceBindings);
  const span = await trx.raw<{ rows: SpanRow[] }>(spanSql(o, since !== undefined), sinceBindings);
  const heads = await trx.raw<{ rows: HeadRow[] }>(headsSql(o));

  const byChain = new Map<string, AuditBreak>();
  for (const r of brk.rows) byChain.set(r.chain, recordBreak(r));
  const notes: string[] = [];
  const headed = new Set<string>();
  for (const h of heads.rows) {
    headed.add(h.chain);
    if (h.last_seq === null) {
      notes.push(
        `chain ${h.chain}: its head is at seq ${h.head_seq} but none of its records is retained (all older than retention_days, or deleted)`,
      );
      continue;
    }
    const b = byChain.has(h.chain) ? undefined : headBreak(h);
    if (b) byChain.set(h.chain, b);
  }
  let records = 0;
  let first: Date | null = null;
  let last: Date | null = null;
  for (const s of span.rows) {
    records += Number(s.n);
    if (first === null || s.first < first) first = s.first;
    if (last === null || s.last > last) last = s.last;
    if (!headed.has(s.chain) && !byChain.has(s.chain)) {
      byChain.set(s.chain, {
        chain: s.chain,
        kind: 'head',
        seq: null,
        decisionId: null,
        message: 'head mismatch: the chain has records but no head row (head deleted)',
      });
    }
  }
  const breaks = [...byChain.values()].sort((a, b) => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0));
  return {
    table,
    since: since?.toISOString(),
    chains: span.rows.length,
    records,
    first: first?.toISOString() ?? null,
    last: last?.toISOString() ?? null,
    intact: breaks.length === 0,
    breaks,
    notes,
  };
}

export function formatAuditVerify(r: AuditVerifyReport): string {
  const span =
    r.first === null
      ? 'no records'
      : `${r.records} record${r.records === 1 ? '' : 's'} in ${r.chains} chain${r.chains === 1 ? '' : 's'}, written ${r.first} … ${r.last}`;
  const lines = [
    `audit verify ${r.table}${r.since ? ` since ${r.since}` : ''}: ${r.intact ? 'intact' : `${r.breaks.length} chain${r.breaks.length === 1 ? '' : 's'} broken`}`,
    `  checked ${span}`,
  ];
  for (const b of r.breaks) lines.push(`  chain ${b.chain}: ${b.message}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return `${lines.join('\n')}\n`;
}
