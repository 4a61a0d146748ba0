/**
 * Event-to-row latency under open-loop load. A producer sends new-customer events at a fixed rate
 * onto the benchmark topic, each carrying its *scheduled* send time as the Debezium commit time
 * (source.ts_us), so a late producer never hides latency (no coordinated omission). The sink keeps
 * that time in `source_position` (commit µs × 10^20 + LSN). A bench-owned trigger on the scores
 * table stamps each row with clock_timestamp() when the sink's upsert writes it (in the sink's
 * transaction, just before its commit; the sink has no written-at column of its own).
 * latency = written_at − scheduled send time.
 */
import type { Kafka, Message } from 'kafkajs';
import { ModelRegistry } from '../../workers/inference/index.js';
import { predictionSchemaOf } from '../../workers/runtime/assemble.js';
import { planTable, postgresDdl } from '../../workers/sinks/postgres/table.js';
import { waitForGroup } from '../../workers/sources/kafka/group.js';
import { validatePipelineFile } from '../../workers/spec/validate.js';
import { uniqueId, withPg } from '../support/stack.js';
import { measureCatchUp } from './catchup.js';
import { dropScores, pipelineEnv, scoresTable } from './e2e.js';
import { type Change, EnvelopeEncoder } from './events.js';
import { cpuSince, readCpu, stackPids } from './procstat.js';
import type { BenchTopic } from './topic.js';
import { createTopic, deleteGroups, deleteTopics, endOffsets, setGroupOffsets } from './topic.js';
import { startIdleProbe, startWorker, workerPids } from './worker.js';

export const LOW_LATENCY_PIPELINE = 'test/bench/pipelines/churn-low-latency.yaml';

export interface LatencyLevel {
  load_share: number;
  offered_events_per_s: number;
  sent: number;
  rows: number;
  /** Producer behind its schedule at worst (counted in the latencies, never hidden). */
  producer_lag_max_ms: number;
  latency_ms: Quantiles | null;
  /** From the moment the bench handed the event to its producer (excludes the bench's own lag). */
  latency_from_send_ms: Quantiles | null;
  worker_cpu_us_per_event: number | null;
}

interface Quantiles {
  p50: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

export interface LatencyResult {
  pipeline: string;
  batch: { max_size: number; max_wait_ms: number; partitions_consumed_concurrently: number };
  max_events_per_s: number;
  levels: LatencyLevel[];
  event_loop_delay_p99_ms: number | null;
  /** The same probe in an idle Node process meanwhile: the machine's scheduling noise floor. */
  idle_process_event_loop_delay_ms: { p50: number; p99: number; max: number } | null;
  rss_mb_peak: number | null;
  note: string;
}

const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

export async function groupStable(kafka: Kafka, group: string, timeoutMs: number): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await waitForGroup(admin, group, { members: 1, timeoutMs });
  } finally {
    await admin.disconnect();
  }
}

/** Sends `rate` events/s for `seconds`, each stamped with its scheduled time; never waits for acks to keep the schedule. */
export async function openLoop(args: {
  kafka: Kafka;
  topic: BenchTopic;
  rate: number;
  seconds: number;
  idBase: number;
}): Promise<{ sent: number; lagMaxMs: number; sentAtUs: Float64Array; seconds: number }> {
  const enc = new EnvelopeEncoder(args.topic.names, args.topic.format, args.topic.ids);
  const producer = args.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const n = Math.round(args.rate * args.seconds);
  const sentAtUs = new Float64Array(n);
  const t0 = nowUs() + 20_000;
  const inflight = new Set<Promise<unknown>>();
  let i = 0;
  let lagMax = 0;
  let failed = 0;
  let lastError = '';
  try {
    while (i < n) {
      const now = nowUs();
      const due = Math.min(n, Math.floor(((now - t0) * args.rate) / 1e6) + 1);
      if (due > i) {
        // At most 500 messages a request: after a stall the backlog of due events must not make
        // one produce batch larger than the broker accepts.
        for (let from = i; from < due; from += 500) {
          const msgs: Message[] = [];
          for (let k = from; k < Math.min(due, from + 500); k++) {
            const tsUs = Math.round(t0 + (k * 1e6) / args.rate);
            const ch: Change = {
              op: 'c',
              id: args.idBase + k,
              version: 0,
              tsUs,
              lsn: 0x7f000000 + k * 296,
              txId: 900_000 + k,
            };
            for (const r of enc.encode(ch)) msgs.push({ key: r.key, value: r.value, headers: r.headers });
            lagMax = Math.max(lagMax, (now - tsUs) / 1000);
            sentAtUs[k] = now;
          }
          const p = producer.send({ topic: args.topic.topic, messages: msgs, acks: 1 }).then(
            () => undefined,
            (err: unknown) => {
              failed += msgs.length;
              lastError = err instanceof Error ? err.message : String(err);
            },
          );
          inflight.add(p);
          void p.then(() => inflight.delete(p));
        }
        i = due;
      }
      await sleep(1);
    }
    await Promise.all(inflight);
  } finally {
    await producer.disconnect();
  }
  if (failed > 0) process.stderr.write(`bench: ${failed} latency events not sent: ${lastError}\n`);
  return { sent: n - failed, lagMaxMs: lagMax, sentAtUs, seconds: (nowUs() - t0) / 1e6 };
}

async function createLatencyTable(
  pipeline: string,
  table: string,
  env: Record<string, string>,
): Promise<void> {
  const registry = new ModelRegistry();
  try {
    const v = await validatePipelineFile(pipeline, {
      env: { ...process.env, ...env } as Record<string, string>,
      keepModel: true,
      registry,
    });
    if (!v.pipeline || !v.model || !v.checked) throw new Error(`${pipeline} is invalid`);
    const names = v.checked.features.map((f) => f.name);
    const schema = predictionSchemaOf(v.checked, v.model, names);
    const cfg = v.pipeline.spec.sinks.find((s) => s.postgres)!.postgres!;
    const plan = planTable({ ...cfg, table }, schema, v.pipeline.metadata.name);
    const fn = `${table.replace('.', '.bench_written_at_')}`;
    await withPg(async (c) => {
      await c.query(postgresDdl(plan));
      await c.query(`alter table ${table} add column written_at timestamptz`);
      await c.query(
        `create function ${fn}() returns trigger language plpgsql as $$ begin new.written_at := clock_timestamp(); return new; end $$`,
      );
      await c.query(
        `create trigger bench_written_at before insert or update on ${table} for each row execute function ${fn}()`,
      );
    });
  } finally {
    await registry.close();
  }
}

export async function runLatency(o: {
  kafka: Kafka;
  /** Defaults to LOW_LATENCY_PIPELINE. */
  pipeline?: string;
  topic: BenchTopic;
  maxEventsPerSec: number;
  shares: number[];
  seconds: number;
  warmupSeconds: number;
}): Promise<LatencyResult> {
  const id = uniqueId();
  const table = scoresTable(id);
  const group = `bench-lat-${id}`;
  const output = `bench-scores-${id}`;
  const dlq = `bench-dlq-${id}`;
  const env = pipelineEnv({ topic: o.topic, group, table, output, dlq });
  const pipeline = o.pipeline ?? LOW_LATENCY_PIPELINE;
  await createLatencyTable(pipeline, table, env);
  await createTopic(o.kafka, output);
  await setGroupOffsets(o.kafka, group, o.topic.topic, await endOffsets(o.kafka, o.topic.topic));
  const worker = startWorker({ pipeline, workers: 1, env, logFile: '.bench/logs/latency.log' });
  const idle = startIdleProbe();
  const pids = stackPids();
  const levels: LatencyLevel[] = [];
  const ranges: { from: number; to: number; level: number; sentAtUs: Float64Array }[] = [];
  let probes: ReturnType<typeof worker.probes> = [];
  try {
    if (!(await groupStable(o.kafka, group, 60000)))
      throw new Error(`latency worker did not join: ${worker.output().slice(-800)}`);
    let idBase = 50_000_000;
    const catchUp = async () => {
      const end = await endOffsets(o.kafka, o.topic.topic);
      await measureCatchUp({
        kafka: o.kafka,
        groupId: group,
        topic: o.topic.topic,
        end,
        start: end,
        cpuRoots: () => ({}),
        capSeconds: 0,
        startTimeoutSeconds: 60,
      });
    };
    // Warm-up (JIT, connections, first batches) at 25 % load; not measured.
    const warm = Math.max(50, 0.25 * o.maxEventsPerSec);
    await openLoop({ kafka: o.kafka, topic: o.topic, rate: warm, seconds: o.warmupSeconds, idBase });
    idBase += 10_000_000;
    await catchUp();
    worker.markWindow();
    for (const [li, share] of o.shares.entries()) {
      const rate = Math.max(10, share * o.maxEventsPerSec);
      const c0 = readCpu({ worker: worker.pid, postgres: pids.postgres, kafka: pids.kafka });
      const r = await openLoop({ kafka: o.kafka, topic: o.topic, rate, seconds: o.seconds, idBase });
      await catchUp();
      const d = cpuSince(c0, readCpu({ worker: worker.pid, postgres: pids.postgres, kafka: pids.kafka }));
      ranges.push({ from: idBase, to: idBase + r.sent, level: li, sentAtUs: r.sentAtUs });
      levels.push({
        load_share: share,
        offered_events_per_s: rate,
        sent: r.sent,
        rows: 0,
        producer_lag_max_ms: Math.round(r.lagMaxMs * 10) / 10,
        latency_ms: null,
        latency_from_send_ms: null,
        worker_cpu_us_per_event: ((d.byName['worker'] ?? 0) / r.sent) * 1e6,
      });
      idBase += 10_000_000;
    }
    const active = new Set(workerPids(worker));
    probes = worker.probes().filter((p) => active.has(p.pid));
  } finally {
    await worker.stop();
  }
  const noise = await idle.stop();
  await withPg(async (c) => {
    for (const rg of ranges) {
      const res = await c.query(
        `select customer_id::int8 as id, (extract(epoch from written_at) * 1000000)::float8 as w,
                (extract(epoch from written_at) * 1000000 - source_position / 100000000000000000000)::float8 / 1000 as ms
           from ${table} where customer_id >= $1 and customer_id < $2 and written_at is not null`,
        [rg.from, rg.to],
      );
      type R = { id: string; w: number; ms: number };
      const lat = res.rows.map((r: R) => r.ms).sort((a: number, b: number) => a - b);
      const fromSend = res.rows
        .map((r: R) => (r.w - rg.sentAtUs[Number(r.id) - rg.from]!) / 1000)
        .sort((a: number, b: number) => a - b);
      const lvl = levels[rg.level]!;
      lvl.rows = lat.length;
      const qs = (xs: number[]): Quantiles | null => {
        if (xs.length === 0) return null;
        const q = (x: number) => Math.round(quantile(xs, x) * 100) / 100;
        return { p50: q(0.5), p95: q(0.95), p99: q(0.99), p999: q(0.999), max: q(1) };
      };
      lvl.latency_ms = qs(lat);
      lvl.latency_from_send_ms = qs(fromSend);
    }
  });
  await dropScores(table);
  await withPg((c) => c.query(`drop function if exists ${table.replace('.', '.bench_written_at_')}()`));
  await deleteTopics(o.kafka, [output, dlq]);
  await deleteGroups(o.kafka, [group]);
  return {
    pipeline,
    batch: { max_size: 64, max_wait_ms: 2, partitions_consumed_concurrently: 6 },
    max_events_per_s: o.maxEventsPerSec,
    levels,
    event_loop_delay_p99_ms: probes.length ? Math.max(...probes.map((p) => p.event_loop_delay_ms.p99)) : null,
    idle_process_event_loop_delay_ms: noise,
    rss_mb_peak: probes.length ? Math.max(...probes.map((p) => p.rss_mb_peak)) : null,
    note: 'written_at is clock_timestamp() from a bench trigger at the row write, inside the sink transaction (its commit follows); scheduled send time is source.ts_us of each event',
  };
}
