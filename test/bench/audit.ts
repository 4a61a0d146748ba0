/**
 * The decision audit log's cost (issue 15): the e2e pipeline's catch-up rate on the Avro backlog
 * without and with `audit:` (every feature under `hash`, the policy that costs most: a sha256 per
 * feature value), runs interleaved, median of each. With the audit on, each upsert of the Postgres
 * sink becomes one statement that also appends a hash-chained record per row it writes (plpgsql,
 * a sha256 per record, a chain head locked per Kafka partition), so the cost shows in the worker
 * (records built) and in Postgres (records hashed and appended): both CPUs per event are reported.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { parseDocument } from 'yaml';
import { auditObjects, dropAuditSql } from '../../workers/audit/sql.js';
import { uniqueId, withPg } from '../support/stack.js';
import { BENCH_PIPELINE, type E2eResult, runE2e } from './e2e.js';
import { type ProfileSummary, summarizeProfiles } from './profile.js';
import { summarize } from './stats.js';
import { type BenchTopic, endOffsets } from './topic.js';

/** The audit table of one run (`--cleanup` knows the pattern). */
export const auditTableOf = (id: string) => `ml.bench_${id}__audit`;

/**
 * The e2e pipeline (churn-bench.yaml) under .bench/pipelines with absolute paths, with an audit log
 * in `auditTable` (every feature hashed) when given.
 */
export function auditPipeline(o: { name: string; auditTable?: string }): string {
  const doc = parseDocument(readFileSync(BENCH_PIPELINE, 'utf8'));
  const base = dirname(resolve(BENCH_PIPELINE));
  for (const path of [
    ['spec', 'features', 'input_schema'],
    ['spec', 'model', 'path'],
  ]) {
    doc.setIn(path, resolve(base, String(doc.getIn(path))));
  }
  if (o.auditTable !== undefined) {
    doc.setIn(
      ['spec', 'audit'],
      doc.createNode({ table: o.auditTable, default_policy: 'hash', hash_key: 'bench-audit-hash-key' }),
    );
  }
  const dir = resolve('.bench/pipelines');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${o.name}.yaml`);
  writeFileSync(file, doc.toString());
  return file;
}

/** Drops an audit log: the day-partitioned table (its partitions with it), heads, contexts, functions. */
export async function dropAudit(table: string): Promise<void> {
  await withPg(async (c) => {
    for (const sql of dropAuditSql(auditObjects(table))) await c.query(sql);
  });
}

async function auditRecords(table: string): Promise<number | null> {
  try {
    return await withPg(async (c) =>
      Number((await c.query(`select count(*)::int as n from ${auditObjects(table).quoted}`)).rows[0].n),
    );
  } catch {
    return null;
  }
}

type Summary = ReturnType<typeof summarize>;

export interface AuditOverheadResult {
  workers: number;
  policy: 'hash';
  off: { events_per_s: Summary; worker_cpu_us_per_event: Summary; postgres_cpu_us_per_event: Summary };
  on: {
    events_per_s: Summary;
    worker_cpu_us_per_event: Summary;
    postgres_cpu_us_per_event: Summary;
    /** Audit records ÷ messages on the topic (completed runs): prediction rows written per message. */
    records_per_event: Summary;
  };
  /** Median with the audit ÷ median without. */
  throughput_ratio: number | null;
  /** 1 − ratio (target ≤ 0.20). */
  audit_cost: number | null;
  runs: { audit: boolean; run: E2eResult | { error: string }; records?: number | null }[];
  /** With --profile: the workers' CPU profiles of the last repeat, off and on. */
  profile?: { off: ProfileSummary | null; on: ProfileSummary | null };
}

export async function runAuditOverhead(o: {
  kafka: Kafka;
  topic: BenchTopic;
  workers: number;
  repeats: number;
  capSeconds: number;
  attempt: <T>(name: string, fn: () => Promise<T>) => Promise<T | { error: string }>;
  /** With --profile: the last repeat's workers write CPU profiles here (`off/`, `on/`), summarised. */
  profileDir?: string | undefined;
}): Promise<AuditOverheadResult> {
  const runs: AuditOverheadResult['runs'] = [];
  const since = { off: new Map<number, number>(), on: new Map<number, number>() };
  const end = await endOffsets(o.kafka, o.topic.topic);
  const messages = [...end.values()].reduce((a, b) => a + Number(b), 0);
  for (let i = 0; i < o.repeats; i++) {
    for (const audit of [false, true]) {
      const sid = uniqueId();
      const auditTable = audit ? auditTableOf(sid) : undefined;
      const pipeline = auditPipeline({
        name: `audit-${audit ? 'on' : 'off'}-${sid}`,
        ...(auditTable ? { auditTable } : {}),
      });
      const profDir =
        o.profileDir !== undefined && i === o.repeats - 1
          ? join(o.profileDir, audit ? 'on' : 'off')
          : undefined;
      if (profDir !== undefined) mkdirSync(profDir, { recursive: true });
      try {
        const r = await o.attempt(`audit: catch-up, audit ${audit ? 'on' : 'off'} #${i + 1}`, () =>
          runE2e({
            ...(profDir === undefined ? {} : { cpuProfDir: profDir }),
            kafka: o.kafka,
            topic: o.topic,
            workers: o.workers,
            capSeconds: o.capSeconds,
            label: `audit-${audit ? 'on' : 'off'}-${i + 1}`,
            pipeline,
          }),
        );
        const entry: AuditOverheadResult['runs'][number] = { audit, run: r };
        // The profiled runs' samples count from each worker's measured window (start-up left out).
        if (profDir !== undefined && !('error' in r))
          for (const w of r.per_worker ?? []) since[audit ? 'on' : 'off'].set(w.pid, w.window_start_mono_us);
        if (auditTable) entry.records = await auditRecords(auditTable);
        runs.push(entry);
      } finally {
        if (auditTable) await dropAudit(auditTable);
        rmSync(pipeline, { force: true });
      }
    }
  }
  // Per side, its completed runs' rate and CPUs.
  const side = (audit: boolean) => {
    const rs: E2eResult[] = [];
    for (const r of runs)
      if (r.audit === audit && !('error' in r.run) && r.run.events_per_s !== null) rs.push(r.run);
    return {
      events_per_s: summarize(rs.map((r) => r.events_per_s)),
      worker_cpu_us_per_event: summarize(rs.map((r) => r.cpu_us_per_event['worker'])),
      postgres_cpu_us_per_event: summarize(rs.map((r) => r.cpu_us_per_event['postgres'])),
    };
  };
  const off = side(false);
  const on = side(true);
  const ratio =
    off.events_per_s.median && on.events_per_s.median
      ? on.events_per_s.median / off.events_per_s.median
      : null;
  return {
    workers: o.workers,
    policy: 'hash',
    off,
    on: {
      ...on,
      records_per_event: summarize(
        runs
          .filter((r) => r.audit && r.records != null && !('error' in r.run) && r.run.completed)
          .map((r) => r.records! / messages),
      ),
    },
    throughput_ratio: ratio,
    audit_cost: ratio === null ? null : 1 - ratio,
    runs,
    ...(o.profileDir === undefined
      ? {}
      : {
          profile: {
            off: summarizeProfiles(join(o.profileDir, 'off'), 25, since.off),
            on: summarizeProfiles(join(o.profileDir, 'on'), 25, since.on),
          },
        }),
  };
}
