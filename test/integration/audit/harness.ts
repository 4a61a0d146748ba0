/** Shared setup of the audit integration tests: a real PostgresSink with its audit log, on the stack's Postgres. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { AuditContext } from '../../../workers/audit/record.js';
import { auditObjects } from '../../../workers/audit/sql.js';
import { Secret } from '../../../workers/core/secret.js';
import type { PredictionRow } from '../../../workers/core/types.js';
import { createPostgresKnex } from '../../../workers/sinks/postgres/client.js';
import type { PostgresSinkConfig } from '../../../workers/sinks/postgres/config.js';
import { PostgresSink } from '../../../workers/sinks/postgres/sink.js';
import { env, uniqueId, withPg } from '../../support/stack.js';
import { pgConfig, pos, row, schema, silentLogger } from '../../unit/sinks/fixtures.js';

export const TOPIC = 'crm.crm.customers';
export const chainOf = (partition: number) => `${TOPIC}/${partition}`;

export const CONTEXT: AuditContext = {
  pipeline: 'audit-test',
  pipelineSha256: '0'.repeat(64),
  worker: 'test-worker',
  policies: { plan: 'hash' },
  defaultPolicy: 'full',
  hashKey: 'audit-test-hash-key',
};

/** One test's schema: the scores table `<schema>.scores`, the audit log `<schema>.audit`. */
export interface AuditFixture {
  schema: string;
  scores: string;
  audit: string;
  /** Every (audited, written) pair the sinks reported. */
  writes: { audited: number; written: number }[];
  sink(
    o?: Partial<Pick<PostgresSinkConfig, 'write_mode' | 'on_delete' | 'pool_size'>>,
    retentionDays?: number,
  ): PostgresSink;
  /** Records reported written by the sinks (the sum of `audited`). */
  audited(): number;
  drop(): Promise<void>;
}

export function auditFixture(): AuditFixture {
  const schemaName = `audit_${uniqueId()}`;
  const sinks: PostgresSink[] = [];
  const writes: AuditFixture['writes'] = [];
  const f: AuditFixture = {
    schema: schemaName,
    scores: `${schemaName}.scores`,
    audit: `${schemaName}.audit`,
    writes,
    sink(o = {}, retentionDays = 180) {
      const config = pgConfig({
        url: new Secret(env.databaseUrl),
        table: f.scores,
        on_delete: 'ignore',
        ...o,
      });
      const s = new PostgresSink({
        config,
        pipeline: CONTEXT.pipeline,
        knex: createPostgresKnex(config),
        ownsKnex: true,
        logger: silentLogger,
        schema,
        audit: {
          table: f.audit,
          retentionDays,
          context: CONTEXT,
          onWritten: (audited, written) => writes.push({ audited, written }),
        },
      });
      sinks.push(s);
      return s;
    },
    audited: () => writes.reduce((n, w) => n + w.audited, 0),
    async drop() {
      for (const s of sinks) await s.close().catch(() => {});
      await withPg((c) => c.query(`DROP SCHEMA IF EXISTS "${schemaName}" CASCADE`));
    },
  };
  return f;
}

export async function query<R extends pg.QueryResultRow = Record<string, unknown>>(
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  return withPg(async (c) => (await c.query<R>(sql, params)).rows);
}

/** A streamed row of `partition` at `offset` (its position: commit second `t`, tiebreak the offset). */
export function streamed(key: number, t: number, partition: number, offset: number, p = 0.5): PredictionRow {
  return { ...row(key, pos(t, offset), p), origin: { topic: TOPIC, partition, offset: String(offset) } };
}

/** A delete of `key` from `partition` at `offset`. */
export function streamedDelete(key: number, t: number, partition: number, offset: number): PredictionRow {
  return { ...row(key, pos(t, offset), 0, 'd'), origin: { topic: TOPIC, partition, offset: String(offset) } };
}

/** Keys `from`…`to-1` at commit second `t`, partition `key % partitions`, ascending keys. */
export function rowsOf(from: number, to: number, t: number, partitions = 4, p = 0.5): PredictionRow[] {
  const out: PredictionRow[] = [];
  for (let k = from; k < to; k++) out.push(streamed(k, t, k % partitions, k, p));
  return out;
}

export async function recordCount(f: AuditFixture): Promise<number> {
  const [r] = await query<{ n: string }>(`SELECT count(*) AS n FROM ${f.audit}`);
  return Number(r!.n);
}

/**
 * The exactly-once invariants: each report had audited = written; the table holds as many records
 * as the sinks reported; every row of the scores table has exactly one record with its key and
 * position; no decision id twice; each chain's seq is 1…n without a gap or a repeat, its write
 * times in seq order, its head at its last record.
 */
export async function assertExactlyOnce(f: AuditFixture): Promise<void> {
  for (const w of f.writes) assert.equal(w.audited, w.written, `a write reported ${JSON.stringify(w)}`);
  assert.equal(await recordCount(f), f.audited(), 'records in the table vs records reported');
  // Rows marked deleted (on_delete: mark) hold the delete's position: deletes get no record.
  const [marked] = await query<{ n: string }>(
    `SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'scores' AND column_name = 'deleted_at'`,
    [f.schema],
  );
  const live = marked!.n === '0' ? '' : 'AND s.deleted_at IS NULL';
  const [orphans] = await query<{ n: string; sample: string | null }>(
    `SELECT count(*) AS n, min(s.customer_id::text) AS sample FROM ${f.scores} AS s
     LEFT JOIN (SELECT key, position, count(*) AS n FROM ${f.audit} GROUP BY key, position) AS a
       ON a.key = s.customer_id::text AND a.position = s.source_position
     WHERE coalesce(a.n, 0) <> 1 ${live}`,
  );
  assert.equal(Number(orphans!.n), 0, `table rows without exactly one record (e.g. key ${orphans!.sample})`);
  const [dup] = await query<{ n: string }>(
    `SELECT count(*) - count(DISTINCT decision_id) AS n FROM ${f.audit}`,
  );
  assert.equal(Number(dup!.n), 0, 'decision ids written twice');
  const chains = await query<{ chain: string; n: string; lo: string; hi: string; distinct_seq: string }>(
    `SELECT chain, count(*) AS n, min(seq) AS lo, max(seq) AS hi, count(DISTINCT seq) AS distinct_seq
     FROM ${f.audit} GROUP BY chain`,
  );
  for (const c of chains) {
    assert.deepEqual(
      { lo: c.lo, hi: c.hi, distinct: c.distinct_seq },
      { lo: '1', hi: c.n, distinct: c.n },
      `chain ${c.chain}: seq not 1…${c.n}`,
    );
  }
  // Write times follow seq in each chain (so --since and whole-day retention cut a chain in one place).
  const [back] = await query<{ n: string; sample: string | null }>(
    `SELECT count(*) AS n, min(chain || ' #' || seq) AS sample FROM (
       SELECT chain, seq, written_at < lag(written_at) OVER (PARTITION BY chain ORDER BY seq) AS back FROM ${f.audit}
     ) AS r WHERE back`,
  );
  assert.equal(Number(back!.n), 0, `records written before their predecessor (e.g. ${back!.sample})`);
  const heads = await query<{ chain: string; seq: string }>(
    `SELECT chain, seq::text AS seq FROM ${auditObjects(f.audit).heads}`,
  );
  assert.deepEqual(
    heads.map((h) => `${h.chain}:${h.seq}`).sort(),
    chains.map((c) => `${c.chain}:${c.n}`).sort(),
    'heads vs chains',
  );
}

/**
 * A copy of the valid corpus pipeline whose postgres sink is the stack's and whose audit log is
 * the fixture's (`extra` replaces the audit section's body).
 */
export function pipelineFile(f: AuditFixture, audit = `    table: ${f.audit}\n`): string {
  const repo = join(import.meta.dirname, '..', '..', '..');
  const base = readFileSync(join(repo, 'test', 'unit', 'spec', 'valid', 'base.yaml'), 'utf8')
    .replaceAll('../../../../', `${repo}/`)
    .replace('postgres://postgres@127.0.0.1:15432/streamscore', env.databaseUrl)
    .replace('table: ml.customer_churn_scores', `table: ${f.scores}`);
  const dir = mkdtempSync(join(tmpdir(), 'audit-verify-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, `${base.trimEnd()}\n${audit === '' ? '' : `  audit:\n${audit}`}`);
  return file;
}
