import type { Knex } from 'knex';
import { Secret } from '../core/secret.js';
import { createPostgresKnex } from '../sinks/postgres/client.js';
import type { PostgresConnectionConfig } from '../sinks/postgres/connection.js';
import { type AuditObjects, auditObjects, blockHashSql } from './sql.js';

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

const SINCE = `WHERE written_day >= (?::timestamptz AT TIME ZONE 'UTC')::date AND written_at >= ?::timestamptz`;

/**
 * The first break of each chain among the blocks in the span, in seq order: each record's sha256
 * against the block's `record_hashes` (a changed record names its decision), the context it names
 * (present, its text still of that sha256), then each block's shape (n records, keys, ids and
 * hashes), its hash recomputed (blockHashSql, written out here, not called), its first seq the
 * previous block's last + 1 and its prev_hash the previous block's hash ('genesis' at seq 1). The
 * first block of the span may start after seq 1 (older days dropped by retention, or before
 * --since): its predecessor is not checked.
 */
function breaksSql(o: AuditObjects, since: boolean): string {
  const recomputed = blockHashSql({
    prev: 'prev_hash',
    at: 'written_at',
    seq: 'seq',
    kind: 'kind',
    keys: 'keys',
    ids: 'decision_ids',
    hashes: 'record_hashes',
  });
  return `WITH b AS (
  SELECT chain, seq, n, prev_hash, hash, keys, decision_ids, id_min, id_max, records, record_hashes,
    ${recomputed} AS recomputed,
    lag(seq) OVER w AS prev_seq,
    lag(hash) OVER w AS prev_block_hash
  FROM ${o.blocks}
  ${since ? SINCE : ''}
  WINDOW w AS (PARTITION BY chain ORDER BY seq)
), l AS (
  SELECT b.chain, b.seq AS bseq, b.seq - b.n + x.i AS rseq, b.decision_ids[x.i]::text AS decision_id, NULL::bigint AS prev_seq,
    substring(x.line FROM '"context":"([0-9a-f]{64})"') AS context_id,
    sha256(convert_to(x.line, 'UTF8')) IS DISTINCT FROM substring(b.record_hashes FROM (x.i::int - 1) * 32 + 1 FOR 32) AS changed
  FROM b CROSS JOIN LATERAL unnest(string_to_array(convert_from(b.records, 'UTF8'), E'\\n')) WITH ORDINALITY AS x(line, i)
), breaks AS (
  SELECT l.chain, l.bseq, l.rseq, l.decision_id, l.prev_seq, l.context_id,
    CASE WHEN l.changed THEN 'altered' WHEN l.context_id IS NOT NULL AND c.intact IS NOT TRUE THEN 'context' END AS kind
  FROM l LEFT JOIN (
    SELECT id, encode(sha256(convert_to(context, 'UTF8')), 'hex') = id AS intact FROM ${o.contexts}
  ) AS c ON c.id = l.context_id
  UNION ALL
  SELECT chain, seq, seq - n + 1, decision_ids[1]::text, prev_seq, NULL,
    CASE
      WHEN n IS DISTINCT FROM cardinality(keys) OR n IS DISTINCT FROM cardinality(decision_ids)
        OR octet_length(record_hashes) IS DISTINCT FROM 32 * n
        OR id_min IS DISTINCT FROM (SELECT i FROM unnest(decision_ids) AS i ORDER BY i LIMIT 1)
        OR id_max IS DISTINCT FROM (SELECT i FROM unnest(decision_ids) AS i ORDER BY i DESC LIMIT 1)
        OR n IS DISTINCT FROM cardinality(string_to_array(convert_from(records, 'UTF8'), E'\\n'))
        OR recomputed IS DISTINCT FROM hash THEN 'block'
      WHEN prev_seq IS NOT NULL AND seq - n <> prev_seq THEN 'missing'
      WHEN prev_seq IS NULL AND seq - n = 0 AND prev_hash IS DISTINCT FROM 'genesis' THEN 'chain'
      WHEN prev_seq IS NOT NULL AND prev_hash IS DISTINCT FROM prev_block_hash THEN 'chain'
    END
  FROM b
)
SELECT DISTINCT ON (chain) chain, rseq::text AS seq, prev_seq::text AS prev_seq, decision_id, kind, context_id
FROM breaks WHERE kind IS NOT NULL
-- In a block: a broken link first, then its first changed record, then the block's own hash.
ORDER BY chain, bseq, CASE kind WHEN 'missing' THEN 0 WHEN 'chain' THEN 0 WHEN 'block' THEN 2 ELSE 1 END, rseq`;
}

/** Per chain with blocks in the span: how many records, and their write times. */
function spanSql(o: AuditObjects, since: boolean): string {
  return `SELECT chain, sum(n)::text AS n, min(written_at) AS first, max(written_at) AS last
FROM ${o.blocks}
${since ? SINCE : ''}
GROUP BY chain`;
}

/**
 * Each head row beside its chain's newest block (whatever --since: deleting the newest blocks
 * leaves a head that names records no longer there).
 */
function headsSql(o: AuditObjects): string {
  return `SELECT h.chain, h.seq::text AS head_seq, h.hash AS head_hash,
  l.seq::text AS last_seq, l.hash AS last_hash, l.decision_id
FROM ${o.heads} AS h
LEFT JOIN LATERAL (
  SELECT t.seq, t.hash, t.decision_ids[t.n]::text AS decision_id FROM ${o.blocks} AS t
  WHERE t.chain = h.chain ORDER BY t.seq DESC LIMIT 1
) AS l ON true`;
}

interface BreakRow {
  chain: string;
  seq: string;
  prev_seq: string | null;
  decision_id: string;
  kind: 'altered' | 'block' | 'missing' | 'chain' | 'context';
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
      message = `record altered: its text no longer has the sha256 its block keeps (${at})`;
      break;
    case 'block':
      message = `block altered: its records, keys, decision ids or record hashes no longer match its hash (block from ${at})`;
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
          : `chain broken: its prev_hash is not the hash of seq ${r.prev_seq} (that block rewritten, hash included?) (${at})`;
      break;
    case 'context':
      message = `context ${r.context_id} (pipeline, worker, model) missing or altered: its text no longer has that sha256 (${at})`;
      break;
  }
  return {
    chain: r.chain,
    kind: r.kind === 'block' ? 'altered' : r.kind,
    seq: r.seq,
    decisionId: r.decision_id,
    message,
  };
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
  /** A url, or a connection with its password and TLS settings (the pipeline's first postgres sink). */
  connection: string | PostgresConnectionConfig,
  table: string,
  opts: AuditVerifyOptions = {},
): Promise<AuditVerifyReport> {
  const o = auditObjects(table);
  const knex = createPostgresKnex(
    { ...(typeof connection === 'string' ? { url: new Secret(connection) } : connection), pool_size: 1 },
    { applicationName: 'streamscore-audit-verify' },
  );
  try {
    const exists = await knex.raw<{ rows: { t: string | null; h: string | null; c: string | null }[] }>(
      'SELECT to_regclass(?) AS t, to_regclass(?) AS h, to_regclass(?) AS c',
      [o.blocks, o.heads, o.contexts],
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
