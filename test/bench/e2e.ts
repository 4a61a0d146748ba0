/**
 * End-to-end catch-up: `streamscore run` (1 or N worker processes) on the pre-loaded benchmark
 * topic, writing Postgres and the output topic, until its group's committed offsets reach the end.
 */
import type { Kafka } from 'kafkajs';
import { dropPgTables, uniqueId, withPg } from '../support/stack.js';
import { type CatchUpResult, measureCatchUp } from './catchup.js';
import { stackPids } from './procstat.js';
import type { BenchTopic } from './topic.js';
import { createTopic, deleteGroups, deleteTopics, endOffsets } from './topic.js';
import { type RunningWorker, startWorker, type WorkerProbe, workerPids } from './worker.js';

export interface E2eResult extends CatchUpResult {
  format: 'json' | 'avro';
  workers: number;
  pipeline: string;
  rows_in_table: number | null;
  dead_lettered: number | null;
  per_worker: WorkerProbe[];
  rss_mb_peak: number | null;
  event_loop_delay_p99_ms: number | null;
  exit_code: number | null;
  log: string;
}

export interface E2eOptions {
  kafka: Kafka;
  topic: BenchTopic;
  workers: number;
  pipeline?: string;
  capSeconds: number;
  /** Extra pipeline environment (e.g. batch settings of a bench pipeline). */
  env?: Record<string, string>;
  cpuProfDir?: string;
  label: string;
  /** Keep the scores table (the caller reads it, then drops it with `dropScores`). */
  keepTable?: boolean;
  /** Called with the running worker once the steady window starts. */
  onRunning?: (w: RunningWorker) => void;
}

/** The benchmark's copy of pipelines/churn-scoring.yaml with the Postgres and Kafka sinks only. */
export const BENCH_PIPELINE = 'test/bench/pipelines/churn-bench.yaml';

/** The variables the bench pipelines read (topic, group, encoding, scores table, output, DLQ). */
export function pipelineEnv(n: {
  topic: BenchTopic;
  group: string;
  table: string;
  output: string;
  dlq: string;
}): Record<string, string> {
  return {
    CHURN_TOPIC: n.topic.topic,
    CHURN_GROUP: n.group,
    CHURN_ENCODING: n.topic.format,
    CHURN_SCORES_TABLE: n.table,
    CHURN_OUTPUT_TOPIC: n.output,
    CHURN_DLQ: n.dlq,
    METRICS_PORT: '0',
  };
}

export function scoresTable(id: string): string {
  return `ml.bench_${id}`;
}

/** Drops the scores table, its tombstone table and the sink's migration rows for them. */
export async function dropScores(table: string): Promise<void> {
  await dropPgTables(table);
}

export async function tableRows(table: string): Promise<number | null> {
  try {
    return await withPg(async (c) =>
      Number((await c.query(`select count(*)::int as n from ${table}`)).rows[0].n),
    );
  } catch {
    return null;
  }
}

async function topicMessages(kafka: Kafka, topic: string): Promise<number | null> {
  try {
    const end = await endOffsets(kafka, topic);
    return [...end.values()].reduce((a, b) => a + Number(b), 0);
  } catch {
    return null;
  }
}

export async function runE2e(o: E2eOptions): Promise<E2eResult> {
  const id = uniqueId();
  const table = scoresTable(id);
  const group = `bench-e2e-${id}`;
  const output = `bench-scores-${id}`;
  const dlq = `bench-dlq-${id}`;
  const pipeline = o.pipeline ?? BENCH_PIPELINE;
  const end = await endOffsets(o.kafka, o.topic.topic);
  // Partitioned like the input. With the broker's default of one partition, a fetch of ~3,000 Avro
  // events becomes one >1 MB produce batch, which the broker rejects (message.max.bytes) and the
  // worker stops: the Kafka sink does not split its sends (see the bench README).
  await createTopic(o.kafka, output);
  const worker = startWorker({
    pipeline,
    workers: o.workers,
    logFile: `.bench/logs/${o.label}.log`,
    env: { ...pipelineEnv({ topic: o.topic, group, table, output, dlq }), ...o.env },
    ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
  });
  const pids = stackPids();
  let result: CatchUpResult;
  let probes: WorkerProbe[] = [];
  try {
    result = await measureCatchUp({
      kafka: o.kafka,
      groupId: group,
      topic: o.topic.topic,
      end,
      cpuRoots: () => ({ worker: worker.pid, postgres: pids.postgres, kafka: pids.kafka }),
      capSeconds: o.capSeconds,
      startTimeoutSeconds: 90,
      onFirstCommit: () => {
        worker.markWindow();
        o.onRunning?.(worker);
      },
      failed: () => {
        const c = worker.exitCode();
        return c === undefined ? undefined : `worker exited with ${c}: ${worker.output().slice(-1500)}`;
      },
    });
    const active = new Set(workerPids(worker));
    probes = worker.probes().filter((p) => active.has(p.pid));
  } finally {
    await worker.stop();
  }
  const rows = await tableRows(table);
  const dead = await topicMessages(o.kafka, dlq);
  if (!o.keepTable) await dropScores(table);
  await deleteTopics(o.kafka, [output, dlq]);
  await deleteGroups(o.kafka, [group]);
  const rss = probes.map((p) => p.rss_mb_peak);
  const eld = probes.map((p) => p.event_loop_delay_ms.p99);
  return {
    ...result,
    format: o.topic.format,
    workers: o.workers,
    pipeline,
    rows_in_table: rows,
    dead_lettered: dead,
    per_worker: probes,
    rss_mb_peak: rss.length ? Math.max(...rss) : null,
    event_loop_delay_p99_ms: eld.length ? Math.max(...eld) : null,
    exit_code: worker.exitCode() ?? null,
    log: worker.log,
  };
}
