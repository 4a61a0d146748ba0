/**
 * streamscore benchmark: `make bench` (BENCH_ARGS=--quick for the smoke run).
 *
 *   npx tsx test/bench/main.ts [--quick | --tiny] [--out .bench/latest.json] [--profile] [--no-peers]
 *                              [--only kcat,consume,stages,e2e,sustain,latency,peers,audit,rollout,api,backfill]
 *                              [--events N]
 *
 * --quick: ~50k events, one run per scenario (a few minutes); --tiny: a harness smoke test
 * (thousands of events; the figures mean nothing); default: the full run (1M Avro events).
 * --cleanup removes what an interrupted run left behind (bench topics, groups, subjects, tables).
 * One run, one set of topics: generates Debezium events (JSON with schemas and Avro, 6 partitions)
 * with a producer, then measures on those topics the consume floors, each stage alone, the end-to-end
 * catch-up of `streamscore run` (1 and 2 workers), open-loop latency, cost, the peers, the audit
 * log's cost (audit.ts), model rollouts (swap time, shadow overhead, RSS over 100 swaps:
 * rollout.ts) and the online scoring API against a FastAPI peer (api.ts); prints a
 * table and writes JSON. Measures and never asserts. Every topic, table, group and subject it makes
 * has a unique name and is removed at the end.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { env, uniqueId } from '../support/stack.js';
import { type ApiResult, runApi } from './api.js';
import { runAuditOverhead } from './audit.js';
import { type BackfillResult, BENCH_VARIANTS, runBackfillBench } from './backfill.js';
import { cleanupLeftovers } from './cleanup.js';
import { runDriftCost } from './drift.js';
import { BENCH_PIPELINE, type E2eResult, runE2e } from './e2e.js';
import { DEFAULT_MIX } from './events.js';
import { type LatencyResult, LOW_LATENCY_PIPELINE, runLatency } from './latency.js';
import { runKafkaConnectJdbc } from './peers/kafka-connect-jdbc.js';
import { type PeerResult, runQuixStreams } from './peers/quixstreams.js';
import { useBenchPostgres } from './postgres.js';
import { machineInfo } from './procstat.js';
import { type ProfileSummary, summarizeProfiles } from './profile.js';
import { printReport } from './report.js';
import { runShadowOverhead, runSwapRss, runSwapTime } from './rollout.js';
import { buildStages, kafkajsConsume, kcatConsume, readSample, type StageResult } from './stages.js';
import { ratio, summarize, tidy } from './stats.js';
import { runSustain } from './sustain.js';
import { type BenchTopic, deleteSubjects, deleteTopics, produceBacklog } from './topic.js';
import { cliCommand } from './worker.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    tiny: { type: 'boolean', default: false },
    out: { type: 'string', default: '.bench/latest.json' },
    profile: { type: 'boolean', default: false },
    'no-peers': { type: 'boolean', default: false },
    only: { type: 'string' },
    cleanup: { type: 'boolean', default: false },
    events: { type: 'string' },
    'latency-max': { type: 'string' },
  },
});

/**
 * `--latency-max N`: the latency levels are shares of N rather than of the run's measured maximum,
 * so that A/B runs offer the same rates (a higher maximum would otherwise load them more). Checked
 * before anything runs.
 */
const LATENCY_MAX = args['latency-max'] === undefined ? undefined : Number(args['latency-max']);
if (LATENCY_MAX !== undefined && !(LATENCY_MAX > 0)) {
  console.error(`bench: --latency-max: expected a positive rate in events/s, got ${args['latency-max']}`);
  process.exit(2);
}

const quick = args.quick || args.tiny;
const SIZES = args.tiny
  ? {
      // Enough that a catch-up spans several 100 ms polls (3k events were consumed within one).
      avroEvents: 40_000,
      jsonEvents: 10_000,
      sampleAvro: 2_000,
      sampleJson: 500,
      stageSeconds: 0.2,
      e2eCap: 20,
      e2eRepeats: 1,
      lowLatencyCap: 5,
      latencySeconds: 2,
      latencyWarmup: 1,
      peerCap: 10,
      sustainSeconds: 4,
      rolloutMoves: 4,
      rolloutRate: 1000,
      rolloutRepeats: 1,
      rolloutCap: 20,
      rolloutSwaps: 20,
      auditRepeats: 1,
      auditCap: 20,
      backfillRows: 20_000,
      api: { warmupSeconds: 1, maxSeconds: 2, levelSeconds: 2, connections: 64, rateConnections: 16 },
    }
  : quick
    ? {
        avroEvents: 50_000,
        jsonEvents: 20_000,
        sampleAvro: 20_000,
        sampleJson: 8_000,
        stageSeconds: 1,
        e2eCap: 45,
        e2eRepeats: 1,
        lowLatencyCap: 10,
        latencySeconds: 6,
        latencyWarmup: 3,
        peerCap: 30,
        sustainSeconds: 8,
        rolloutMoves: 20,
        rolloutRate: 2000,
        rolloutRepeats: 3,
        rolloutCap: 45,
        rolloutSwaps: 100,
        auditRepeats: 3,
        auditCap: 45,
        backfillRows: 200_000,
        api: { warmupSeconds: 2, maxSeconds: 5, levelSeconds: 5, connections: 64, rateConnections: 16 },
      }
    : {
        avroEvents: 1_000_000,
        jsonEvents: 200_000,
        sampleAvro: 150_000,
        sampleJson: 30_000,
        stageSeconds: 3,
        e2eCap: 40,
        e2eRepeats: 3,
        lowLatencyCap: 25,
        latencySeconds: 20,
        latencyWarmup: 5,
        peerCap: 60,
        sustainSeconds: 15,
        rolloutMoves: 40,
        rolloutRate: 3000,
        rolloutRepeats: 3,
        rolloutCap: 40,
        rolloutSwaps: 100,
        auditRepeats: 3,
        auditCap: 40,
        backfillRows: 500_000,
        api: { warmupSeconds: 3, maxSeconds: 10, levelSeconds: 10, connections: 64, rateConnections: 16 },
      };

// --events N: N Avro events (and N/5 JSON) instead of the mode's, e.g. for A/B runs of one change.
if (args.events !== undefined) {
  const n = Number(args.events);
  if (!Number.isInteger(n) || n < 1000)
    throw new Error(`--events: expected an integer ≥ 1000, got '${args.events}'`);
  SIZES.avroEvents = n;
  SIZES.jsonEvents = Math.max(1000, Math.round(n / 5));
}

const only = args.only ? new Set(args.only.split(',')) : undefined;
const want = (name: string) => !only || only.has(name);
// --only api / backfill need no benchmark topics: a token 1,000-event pair is made and left unused.
const apiOnly = only !== undefined && [...only].every((s) => s === 'api' || s === 'backfill');

type Maybe<T> = T | { error: string };
async function attempt<T>(name: string, fn: () => Promise<T>): Promise<Maybe<T>> {
  const t0 = performance.now();
  process.stderr.write(`bench: ${name} …\n`);
  try {
    const r = await fn();
    process.stderr.write(`bench: ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    return r;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bench: ${name} failed: ${msg}\n`);
    return { error: msg.slice(0, 2000) };
  }
}
const ok = <T>(m: Maybe<T> | undefined): T | undefined =>
  m !== undefined && !(typeof m === 'object' && m !== null && 'error' in m) ? (m as T) : undefined;

async function main(): Promise<void> {
  const started = Date.now();
  mkdirSync('.bench/logs', { recursive: true });
  const kafka = new Kafka({
    brokers: env.kafkaBrokers.split(','),
    clientId: 'streamscore-bench',
    logLevel: logLevel.NOTHING,
  });
  const runId = uniqueId();
  const machine = machineInfo();
  const topics: BenchTopic[] = [];
  // Production durability: the bench's own Postgres (fsync, synchronous_commit, full_page_writes on)
  const postgres = await useBenchPostgres();
  const out: Record<string, unknown> = {
    schema_version: 1,
    mode: args.tiny ? 'tiny' : quick ? 'quick' : 'full',
    started_at: new Date(started).toISOString(),
    machine,
    postgres,
    cli: cliCommand().mode,
  };
  try {
    // ---- the benchmark topics ----------------------------------------------------------------
    const startUs = (Date.now() - 3_600_000) * 1000;
    const produce = async (format: 'avro' | 'json', events: number) => {
      const t = await produceBacklog({
        kafka,
        registryUrl: env.registryUrl,
        names: { prefix: `bench${runId}${format}` },
        format,
        events,
        mix: DEFAULT_MIX,
        startUs,
      });
      topics.push(t);
      return t;
    };
    const avro = await produce('avro', apiOnly ? 1000 : SIZES.avroEvents);
    const json = await produce('json', apiOnly ? 1000 : SIZES.jsonEvents);
    out['topics'] = topics.map((t) => ({
      topic: t.topic,
      format: t.format,
      partitions: 6,
      messages: t.messages,
      events: t.ops,
      tombstones: t.ops.d,
      mean_value_bytes: Math.round(t.valueBytes / (t.messages - t.ops.d)),
      entities: DEFAULT_MIX.entities,
      produce_events_per_s: Math.round(t.messages / t.produceSeconds),
    }));

    // ---- floors and ceilings -------------------------------------------------------------------
    const floors: Record<string, unknown> = {};
    const source = {
      session_timeout_ms: 30000,
      heartbeat_interval_ms: 3000,
      max_bytes_per_partition: 1048576,
      partitions_consumed_concurrently: 1,
    };
    for (const t of [avro, json]) {
      if (want('kcat'))
        floors[`kcat_${t.format}`] = await attempt(`kcat ${t.format}`, () =>
          kcatConsume(env.kafkaBrokers, t.topic, t.messages),
        );
      if (want('consume'))
        floors[`kafkajs_${t.format}`] = await attempt(`kafkajs consume ${t.format}`, () =>
          kafkajsConsume(kafka, t.topic, source),
        );
    }
    const stageEnv = {
      CHURN_SCORES_TABLE: 'ml.bench_unused',
      CHURN_OUTPUT_TOPIC: 'bench-unused',
      CHURN_DLQ: 'bench-unused-dlq',
    };
    if (want('stages')) {
      for (const t of [avro, json]) {
        const stages = await buildStages({
          pipeline: BENCH_PIPELINE,
          format: t.format,
          kafka,
          env: stageEnv,
        });
        try {
          const sample = await readSample(
            kafka,
            t.topic,
            t.format === 'avro' ? SIZES.sampleAvro : SIZES.sampleJson,
          );
          const n = sample.reduce((a, b) => a + b.length, 0);
          floors[`sample_${t.format}`] = {
            messages: n,
            fetch_batches: sample.length,
            mean_batch: Math.round(n / sample.length),
          };
          floors[`decode_features_${t.format}`] = await attempt(`decode+features ${t.format}`, () =>
            stages.decodeFeatures(sample, SIZES.stageSeconds),
          );
          if (t.format === 'avro') {
            floors['onnx'] = await attempt('onnx', () => stages.onnx(sample, SIZES.stageSeconds));
            const built = await stages.predictionBatches(sample);
            floors['postgres_sink'] = await attempt('postgres sink alone', () =>
              stages.postgresSink(built.batches, built.events),
            );
            floors['kafka_sink'] = await attempt('kafka output alone', () =>
              stages.kafkaSink(built.batches, built.events),
            );
          }
        } finally {
          await stages.close();
        }
      }
    }
    out['floors'] = floors;

    // ---- end to end ----------------------------------------------------------------------------
    const e2e: Record<string, unknown> = {};
    const profileDir = resolve(`.bench/profile-${runId}`);
    const configs: { fmt: 'avro' | 'json'; workers: number; repeats: number }[] = [
      { fmt: 'avro', workers: 1, repeats: SIZES.e2eRepeats },
      { fmt: 'avro', workers: 2, repeats: SIZES.e2eRepeats },
      { fmt: 'json', workers: 1, repeats: 1 },
      { fmt: 'json', workers: 2, repeats: 1 },
    ];
    if (want('e2e')) {
      for (const c of configs) {
        const runs: Maybe<E2eResult>[] = [];
        for (let i = 0; i < c.repeats; i++) {
          runs.push(
            await attempt(`e2e ${c.fmt} ${c.workers}w #${i + 1}`, () =>
              runE2e({
                kafka,
                topic: c.fmt === 'avro' ? avro : json,
                workers: c.workers,
                capSeconds: SIZES.e2eCap,
                label: `e2e-${c.fmt}-${c.workers}w-${i + 1}`,
              }),
            ),
          );
        }
        const good = runs.map(ok).filter((r): r is E2eResult => r !== undefined && r.events_per_s !== null);
        e2e[`${c.fmt}_${c.workers}w`] = {
          events_per_s: summarize(good.map((r) => r.events_per_s)),
          worker_cpu_us_per_event: summarize(good.map((r) => r.cpu_us_per_event['worker'])),
          postgres_cpu_us_per_event: summarize(good.map((r) => r.cpu_us_per_event['postgres'])),
          kafka_cpu_us_per_event: summarize(good.map((r) => r.cpu_us_per_event['kafka'])),
          rss_mb_peak: summarize(good.map((r) => r.rss_mb_peak)),
          event_loop_delay_p99_ms: summarize(good.map((r) => r.event_loop_delay_p99_ms)),
          runs,
        };
      }
      if (args.profile) {
        rmSync(profileDir, { recursive: true, force: true });
        mkdirSync(profileDir, { recursive: true });
        const r = await attempt('e2e avro 1w with --cpu-prof', () =>
          runE2e({
            kafka,
            topic: avro,
            workers: 1,
            capSeconds: SIZES.e2eCap,
            label: 'e2e-avro-1w-profile',
            cpuProfDir: profileDir,
          }),
        );
        const since = new Map((ok(r)?.per_worker ?? []).map((w) => [w.pid, w.window_start_mono_us]));
        const prof: ProfileSummary | null = summarizeProfiles(profileDir, 25, since);
        e2e['profile'] = { run: r, summary: prof, dir: profileDir };
      }
    }
    out['e2e'] = e2e;

    // ---- streaming drift's cost (issue 17): the monitor's CPU per event vs the worker's ---------
    if (want('drift')) {
      const worker = e2e['avro_1w'] as { worker_cpu_us_per_event?: { median: number | null } } | undefined;
      out['drift'] = await attempt('drift: monitor CPU per event vs the worker', async () =>
        runDriftCost({
          kafka,
          topic: avro,
          sample: await readSample(kafka, avro.topic, SIZES.sampleAvro),
          seconds: SIZES.stageSeconds,
          capSeconds: SIZES.e2eCap,
          workerCpuUsPerEvent: worker?.worker_cpu_us_per_event?.median ?? null,
        }),
      );
    }

    // ---- maximum sustainable rate with flat lag -------------------------------------------------
    const catchUp2 = (e2e['avro_2w'] as { events_per_s?: { median: number | null } } | undefined)
      ?.events_per_s?.median;
    if (want('sustain') && catchUp2) {
      out['sustainable'] = await attempt('sustainable rate, avro, 2 workers', () =>
        runSustain({
          kafka,
          topic: avro,
          pipeline: BENCH_PIPELINE,
          workers: 2,
          catchUpEventsPerSec: catchUp2,
          shares: [0.5, 0.7, 0.85, 1.0, 1.15],
          seconds: SIZES.sustainSeconds,
        }),
      );
    }

    // ---- latency ------------------------------------------------------------------------------
    let latency: Maybe<LatencyResult> | undefined;
    if (want('latency')) {
      const max = await attempt('e2e avro 1w, low-latency settings (max rate)', () =>
        runE2e({
          kafka,
          topic: avro,
          workers: 1,
          capSeconds: SIZES.lowLatencyCap,
          label: 'e2e-low-latency',
          pipeline: LOW_LATENCY_PIPELINE,
        }),
      );
      const maxRate = LATENCY_MAX ?? ok(max)?.events_per_s ?? null;
      out['low_latency_max'] = max;
      if (maxRate !== null) {
        latency = await attempt('latency', () =>
          runLatency({
            kafka,
            topic: avro,
            maxEventsPerSec: maxRate,
            shares: [0.02, 0.25, 0.5, 0.8],
            seconds: SIZES.latencySeconds,
            warmupSeconds: SIZES.latencyWarmup,
          }),
        );
      } else latency = { error: 'no maximum rate measured for the low-latency settings' };
      out['latency'] = latency;
    }

    // ---- peers ---------------------------------------------------------------------------------
    const peers: Record<string, unknown> = {};
    const peerOut = (r: Maybe<{ result: PeerResult; reason?: string }>) => {
      const v = ok(r);
      if (!v) return { events_per_s: null, reason: (r as { error: string }).error };
      if (!v.result) return { events_per_s: null, reason: v.reason ?? 'not measured' };
      return { ...v.result, events_per_s: v.result.events_per_s };
    };
    if (!args['no-peers'] && want('peers')) {
      peers['quixstreams'] = peerOut(
        await attempt('peer quixstreams', () =>
          runQuixStreams({ kafka, topic: avro, capSeconds: SIZES.peerCap }),
        ),
      );
      peers['kafka_connect_jdbc'] = peerOut(
        await attempt('peer kafka-connect-jdbc', () =>
          runKafkaConnectJdbc({ kafka, topic: avro, capSeconds: SIZES.peerCap, tasks: 1 }),
        ),
      );
    } else {
      peers['quixstreams'] = { events_per_s: null, reason: 'peers skipped (--no-peers/--only)' };
      peers['kafka_connect_jdbc'] = { events_per_s: null, reason: 'peers skipped (--no-peers/--only)' };
    }
    out['peers'] = peers;

    // ---- the online scoring API (issue 16) against a FastAPI peer ---------------------------------
    // No Kafka involved: streamscore serve and the peer as child processes, autocannon in here.
    if (only ? only.has('api') : !args.tiny) {
      out['api'] = await attempt('api: streamscore serve vs FastAPI', () =>
        runApi({ sizes: SIZES.api, workers: [1, 2], attempt }),
      );
    }

    // ---- the decision audit log's cost (issue 15) -------------------------------------------------
    // Before the rollouts (whose swap-time traffic appends to the Avro topic); --tiny only when asked.
    if (only ? only.has('audit') : !args.tiny) {
      out['audit'] = await attempt('audit: on (features hash) vs off', () =>
        runAuditOverhead({
          kafka,
          topic: avro,
          workers: 2,
          repeats: SIZES.auditRepeats,
          capSeconds: SIZES.auditCap,
          attempt,
          profileDir: args.profile ? resolve(`.bench/profile-audit-${runId}`) : undefined,
        }),
      );
    }

    // ---- backfills (issue 20) ------------------------------------------------------------------
    // A customers table backfilled by 1 and 2 workers, with and without the Kafka sink, at the
    // defaults and the old ones (500-row fetches, 2 chunks per worker), into the bench's Postgres.
    if (only ? only.has('backfill') : !args.tiny) {
      out['backfill'] = await attempt('backfill: 1 and 2 workers, with and without the Kafka sink', () =>
        runBackfillBench({
          rows: SIZES.backfillRows,
          variants: BENCH_VARIANTS,
          log: (line) => process.stderr.write(`bench: backfill ${line}\n`),
        }),
      );
    }

    // ---- model rollouts (issue 14) ---------------------------------------------------------------
    // Last: the swap-time traffic appends to the Avro topic, which the measures above read to its end.
    // In --tiny only when asked for (--only rollout): three worker fleets would triple the smoke run.
    if (only ? only.has('rollout') : !args.tiny) {
      const rollout: Record<string, unknown> = {};
      rollout['shadow_overhead'] = await attempt('rollout: shadow on vs off', () =>
        runShadowOverhead({
          kafka,
          topic: avro,
          runId,
          workers: 2,
          repeats: SIZES.rolloutRepeats,
          capSeconds: SIZES.rolloutCap,
          attempt,
        }),
      );
      rollout['swap_time'] = await attempt('rollout: swap time', () =>
        runSwapTime({
          kafka,
          topic: avro,
          runId,
          workers: 2,
          moves: SIZES.rolloutMoves,
          rate: SIZES.rolloutRate,
        }),
      );
      rollout['swap_rss'] = await attempt(`rollout: RSS over ${SIZES.rolloutSwaps} swaps`, () =>
        runSwapRss({ swaps: SIZES.rolloutSwaps, runId }),
      );
      out['rollout'] = rollout;
    }

    // ---- headline keys and ratios --------------------------------------------------------------
    const e2eOf = (k: string) =>
      (e2e[k] as { events_per_s?: { median: number | null } } | undefined)?.events_per_s?.median ?? null;
    const headline = e2eOf('avro_2w');
    const consume = ok(floors['kafkajs_avro'] as Maybe<StageResult>)?.events_per_s ?? null;
    const kcat = ok(floors['kcat_avro'] as Maybe<StageResult>)?.events_per_s ?? null;
    const pg = ok(floors['postgres_sink'] as Maybe<StageResult>)?.events_per_s ?? null;
    const onnx = ok(floors['onnx'] as Maybe<StageResult>);
    const e2eAvro2 = e2e['avro_2w'] as
      | {
          worker_cpu_us_per_event?: { median: number | null };
          rss_mb_peak?: { max: number | null };
          event_loop_delay_p99_ms?: { median: number | null };
        }
      | undefined;
    const e2eAvro1 = e2e['avro_1w'] as typeof e2eAvro2;
    const workerUs = e2eAvro2?.worker_cpu_us_per_event?.median ?? null;
    const workerUs1 = e2eAvro1?.worker_cpu_us_per_event?.median ?? null;
    const inferUs = (onnx?.['cpu_us_per_input_event'] as number | undefined) ?? null;
    const lat = ok(latency);
    const at50 = lat?.levels.find((l) => l.load_share === 0.5)?.latency_ms ?? null;
    const q = peers['quixstreams'] as { events_per_s: number | null };
    const j = peers['kafka_connect_jdbc'] as { events_per_s: number | null };
    const roll = out['rollout'] as Record<string, unknown> | undefined;
    const swapTime = ok(
      roll?.['swap_time'] as Maybe<{ swap_ms: { p50: number; p99: number } | null }> | undefined,
    );
    const shadowCost = ok(roll?.['shadow_overhead'] as Maybe<{ shadow_cost: number | null }> | undefined);
    const swapRss = ok(roll?.['swap_rss'] as Maybe<{ growth_pct: number }> | undefined);
    const auditCost = ok(out['audit'] as Maybe<{ audit_cost: number | null }> | undefined);
    const api = ok(out['api'] as Maybe<ApiResult> | undefined);
    const backfill = ok(out['backfill'] as Maybe<{ results: BackfillResult[] }> | undefined);
    const backfillRate = (variant: string) =>
      backfill?.results.find((r) => r.variant === variant && r.state === 'completed')?.rows_per_s ?? null;
    Object.assign(out, {
      e2e_events_per_s: headline,
      e2e_events_per_s_1_worker: e2eOf('avro_1w'),
      consume_only_events_per_s: consume,
      kcat_events_per_s: kcat,
      ratio_e2e_to_consume_only: ratio(headline, consume),
      ratio_consume_only_to_kcat: ratio(consume, kcat),
      ratio_e2e_to_postgres_sink_alone: ratio(headline, pg),
      ratio_e2e_to_quixstreams: ratio(headline, q.events_per_s),
      ratio_e2e_to_kafka_connect_jdbc: ratio(headline, j.events_per_s),
      inference_share_of_worker_cpu: ratio(inferUs, workerUs1),
      latency_ms: at50,
      rss_mb_peak: e2eAvro2?.rss_mb_peak?.max ?? null,
      cpu_us_per_event: workerUs,
      event_loop_delay_p99_ms: e2eAvro2?.event_loop_delay_p99_ms?.median ?? null,
      swap_ms_p50: swapTime?.swap_ms?.p50 ?? null,
      swap_ms_p99: swapTime?.swap_ms?.p99 ?? null,
      shadow_throughput_cost: shadowCost?.shadow_cost ?? null,
      swap_rss_growth_pct: swapRss?.growth_pct ?? null,
      audit_throughput_cost: auditCost?.audit_cost ?? null,
      api_requests_per_s: api?.best.streamscore?.per_s ?? null,
      backfill_rows_per_s: backfillRate('2w_postgres'),
      backfill_rows_per_s_with_kafka: backfillRate('2w_postgres_kafka'),
      api_p99_ms_at_1000_per_s: api?.p99_ms_at_1000_per_s['streamscore_1w']?.paced ?? null,
      ratio_api_to_fastapi: api?.best.ratio ?? null,
      sustainable_events_per_s:
        (ok(out['sustainable'] as Maybe<{ sustainable_events_per_s: number | null }> | undefined) ?? null)
          ?.sustainable_events_per_s ?? null,
      definitions: {
        postgres:
          "the Postgres the sink, the latency trigger and the peers write to: the bench's own instance (test/bench/postgres.ts) with fsync, synchronous_commit and full_page_writes on, as in production, unless BENCH_DATABASE_URL; its settings as the server reports them",
        e2e_events_per_s:
          'streamscore run --workers 2 test/bench/pipelines/churn-bench.yaml (pipelines/churn-scoring.yaml with Postgres + the output topic as sinks), Debezium Avro topic, GBT-100; catch-up messages/s (tombstones included) from the first commit to the end, median of runs',
        consume_only_events_per_s:
          'kafkajs consumer group, no-op eachBatch with resolve+commit, source settings, Avro topic',
        kcat_events_per_s: 'kcat -C -o beginning -e on the Avro topic, wall time incl. start-up',
        cpu_us_per_event:
          'worker CPU (all worker processes) per message in the e2e_events_per_s runs; Postgres and broker CPU in e2e.*',
        inference_share_of_worker_cpu:
          'ONNX stage CPU per input message (at the configured batch size) / worker CPU per message, 1 worker',
        latency_ms:
          'open-loop event-to-row latency at 50 % of the low-latency maximum, fraud batch settings (64 rows / 2 ms, 6 partitions concurrently), 1 worker',
        rss_mb_peak: 'largest VmHWM of one worker process in the e2e_events_per_s runs',
        swap_ms_p50:
          'rollout.swap_time: 2 workers following churn@champion under steady traffic; per alias move (promote 1 → 2, rollback 2 → 1, alternating), from its append on the control topic to the first output-topic row (CreateTime) with the new model_version from every worker; median over the moves',
        swap_ms_p99:
          'the same, 99th percentile (nearest rank: with 20-40 moves, the slowest or next-to-slowest move)',
        shadow_throughput_cost:
          'rollout.shadow_overhead: 1 − (median catch-up events/s with the shadow on ÷ off), 2 workers, Avro backlog, shadow churn/3 writing pairs to a Postgres comparison table; runs interleaved',
        swap_rss_growth_pct:
          'rollout.swap_rss: RSS growth (after forced GC) of one process swapping churn/1 ↔ churn/3 through PipelineModels, a 512-row batch scored after each swap, from swap 0 to the last',
        api_requests_per_s:
          'api: streamscore serve pipelines/fraud-scoring.yaml (bearer token, as the example) at its best of --workers 1 and 2 (api.best), single-record POST /v1/pipelines/fraud-scoring/predict calls of 2,000 distinct payments, autocannon closed loop with 64 keep-alive connections from the bench process (on the same 2 cores); 2xx responses/s',
        api_p99_ms_at_1000_per_s:
          "api: the same server with 1 worker, 1,000 calls/s on a fixed schedule (the paced generator: each call sent when due on a free keep-alive connection), p99 from each call's scheduled time to its 2xx response; api.p99_ms_at_1000_per_s also gives autocannon's overallRate figure (16 connections, each sending its share of a second's calls at the second's start: bursts)",
        ratio_api_to_fastapi:
          'api: api_requests_per_s ÷ the FastAPI peer at its best of --workers 1 and 2 (peers/fastapi: FastAPI + uvicorn[standard] + onnxruntime, the same features in Python, the same model file) measured the same way',
        backfill_rows_per_s:
          "backfill: streamscore run --backfill-only, 2 workers, the churn pipeline with its Postgres sink alone (create_table, the bench's Postgres), a customers table of 200k rows (--quick; 500k full) in 10k-row chunks at the defaults (fetch_rows 5,000, concurrency 4); rows / (run created → run finished). backfill.results has 1 and 2 workers, with and without the Kafka sink, at the defaults and the old ones (fetch_rows 500, concurrency 2), with worker and Postgres-backend CPU per row",
        backfill_rows_per_s_with_kafka: 'the same with the Kafka sink too (JSON, the default acks -1)',
        audit_throughput_cost:
          'audit: 1 − (median catch-up events/s with the audit log on ÷ off), 2 workers, Avro backlog, every feature under policy hash; with it on, each Postgres upsert also appends one hash-chained record per row it writes, in the same statement; runs interleaved',
      },
    });
  } finally {
    out['finished_at'] = new Date().toISOString();
    out['duration_s'] = Math.round((Date.now() - started) / 1000);
    await deleteTopics(
      kafka,
      topics.map((t) => t.topic),
    );
    await deleteSubjects(
      env.registryUrl,
      topics.filter((t) => t.format === 'avro').flatMap((t) => [`${t.topic}-key`, `${t.topic}-value`]),
    );
    const file = resolve(args.out);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(tidy(out), null, 2)}\n`);
    printReport(tidy(out));
    process.stdout.write(`\nwrote ${args.out}\n`);
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(
      `bench: ${sig}; stopping the processes it started. Remove what it made with --cleanup.\n`,
    );
    process.exit(130);
  });
}
if (args.cleanup) {
  await useBenchPostgres();
  await cleanupLeftovers();
} else await main();
process.exit(0);
