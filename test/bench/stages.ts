/**
 * The stages of the pipeline alone, in this process, on messages read from the benchmark topic in
 * the batches kafkajs delivers them (the source's fetch settings): decode + features, ONNX at the
 * configured batch size, and the Postgres and Kafka sinks fed from memory with the very rows the
 * engine builds from those messages. Also the consume-only floors: kcat and kafkajs.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Kafka } from 'kafkajs';
import type { PredictionBatch, RawMessage, Sink } from '../../workers/core/types.js';
import { createDecoder } from '../../workers/decode/create.js';
import { createSchemaRegistry } from '../../workers/decode/registry.js';
import { FeatureMapper } from '../../workers/features/mapper.js';
import { ModelBatcher, ModelRegistry } from '../../workers/inference/index.js';
import { createMetrics, noopMeter } from '../../workers/observability/metrics.js';
import { predictionSchemaOf } from '../../workers/runtime/assemble.js';
import { BatchProcessor, fixedModel } from '../../workers/runtime/batch-processor.js';
import { createSink } from '../../workers/sinks/create.js';
import { type ValidatedPipeline, validatePipelineFile } from '../../workers/spec/validate.js';
import { uniqueId } from '../support/stack.js';
import { dropScores, scoresTable } from './e2e.js';
import { cpuSince, readCpu, stackPids } from './procstat.js';
import { createTopic, deleteGroups, deleteTopics, endOffsets, PARTITIONS } from './topic.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

export interface StageResult {
  events: number;
  seconds: number;
  events_per_s: number;
  /** CPU µs per event of this process (and of Postgres / the broker where they take part). */
  cpu_us_per_event: Record<string, number>;
  event_loop_delay_p99_ms?: number;
  [extra: string]: unknown;
}

/** A fetch as the source hands it to the engine: one partition's messages. */
export type FetchBatch = RawMessage[];

/** Whether `p` settles within `ms` (the timer is cleared either way, so it never holds the process). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the first `count` messages of the topic with the source's consumer settings, keeping the fetch batches. */
export async function readSample(kafka: Kafka, topic: string, count: number): Promise<FetchBatch[]> {
  const group = `bench-sample-${uniqueId()}`;
  const consumer = kafka.consumer({ groupId: group, maxBytesPerPartition: 1048576 });
  const batches: FetchBatch[] = [];
  let n = 0;
  await consumer.connect();
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      if (n >= count) return;
      const msgs = batch.messages.slice(0, count - n).map((m) => ({
        topic: batch.topic,
        partition: batch.partition,
        offset: m.offset,
        key: m.key,
        value: m.value,
        headers: Object.fromEntries(
          Object.entries(m.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : String(v)]),
        ),
        timestamp: m.timestamp,
      }));
      batches.push(msgs);
      n += msgs.length;
      if (n >= count) resolveDone();
    },
  });
  const complete = await settlesWithin(done, 120000);
  await consumer.disconnect();
  await deleteGroups(kafka, [group]);
  if (!complete) throw new Error(`sample of ${topic}: read ${n} of ${count} messages within 120 s`);
  return batches;
}

function timeCpu<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; seconds: number; cpuUs: number; eldP99: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return fn().then((value) => {
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    h.disable();
    return { value, seconds, cpuUs: cpu.user + cpu.system, eldP99: h.percentile(99) / 1e6 };
  });
}

export interface Stages {
  validated: ValidatedPipeline;
  decodeFeatures(batches: FetchBatch[], minSeconds: number): Promise<StageResult>;
  onnx(batches: FetchBatch[], minSeconds: number): Promise<StageResult>;
  /** The engine's PredictionBatches for the sample (decode → features → model → rows). */
  predictionBatches(batches: FetchBatch[]): Promise<{ batches: PredictionBatch[]; events: number[] }>;
  postgresSink(batches: PredictionBatch[], events: number[]): Promise<StageResult>;
  kafkaSink(batches: PredictionBatch[], events: number[]): Promise<StageResult>;
  close(): Promise<void>;
}

/** The churn pipeline's stages, built the way runtime/assemble.ts builds them. */
export async function buildStages(args: {
  pipeline: string;
  format: 'json' | 'avro';
  kafka: Kafka;
  env: Record<string, string>;
}): Promise<Stages> {
  const registry = new ModelRegistry();
  const v = await validatePipelineFile(args.pipeline, {
    env: { ...process.env, CHURN_ENCODING: args.format, ...args.env } as Record<string, string>,
    keepModel: true,
    registry,
  });
  if (!v.pipeline || !v.model || !v.checked) {
    throw new Error(
      `bench pipeline ${args.pipeline} is invalid: ${v.problems.map((p) => p.message).join('; ')}`,
    );
  }
  const p = v.pipeline;
  const model = v.model;
  const dec = p.spec.decode as {
    debezium?: { schema_registry?: Parameters<typeof createSchemaRegistry>[0] };
  };
  const reg = dec.debezium?.schema_registry ? createSchemaRegistry(dec.debezium.schema_registry) : undefined;
  const inputSchema = p.spec.features.input_schema;
  const rowSchema = inputSchema
    ? JSON.parse(readFileSync(resolve(dirname(resolve(args.pipeline)), inputSchema), 'utf8'))
    : undefined;
  const newDecoder = () => createDecoder(p.spec.decode, { registry: reg, rowSchema });
  const mapper = new FeatureMapper({
    pipeline: p.metadata.name,
    key: v.checked.key!,
    features: v.checked.features,
    scoreOps: p.spec.features.score_ops,
  });
  const batchSize = p.spec.model.batch.max_size;
  const schema = predictionSchemaOf(v.checked, model, mapper.names);
  const metrics = createMetrics(noopMeter(), p.metadata.name, silent);
  const pids = stackPids();

  async function decodeFeatures(batches: FetchBatch[], minSeconds: number): Promise<StageResult> {
    const decoder = newDecoder();
    for (const b of batches.slice(0, 3)) mapper.map((await decoder.decodeBatch(b)).records); // warm-up
    let events = 0;
    let scored = 0;
    const r = await timeCpu(async () => {
      const t0 = performance.now();
      do {
        for (const b of batches) {
          const d = await decoder.decodeBatch(b);
          scored += mapper.map(d.records).scored.length;
          events += b.length;
        }
      } while ((performance.now() - t0) / 1000 < minSeconds);
    });
    return {
      events,
      seconds: r.seconds,
      events_per_s: events / r.seconds,
      cpu_us_per_event: { bench: r.cpuUs / events },
      scored_share: scored / events,
      event_loop_delay_p99_ms: r.eldP99,
    };
  }

  async function onnx(batches: FetchBatch[], minSeconds: number): Promise<StageResult> {
    const decoder = newDecoder();
    const parts: Float32Array[] = [];
    let rows = 0;
    let events = 0;
    for (const b of batches) {
      const m = mapper.map((await decoder.decodeBatch(b)).records);
      parts.push(m.features.subarray(0, m.scored.length * m.width));
      rows += m.scored.length;
      events += b.length;
    }
    const width = mapper.width;
    const all = new Float32Array(rows * width);
    let at = 0;
    for (const x of parts) {
      all.set(x, at);
      at += x.length;
    }
    for (let i = 0; i < Math.min(rows, batchSize * 20); i += batchSize) {
      await model.predict(
        all.subarray(i * width, Math.min(rows, i + batchSize) * width),
        Math.min(batchSize, rows - i),
        width,
      );
    }
    let done = 0;
    const lat: number[] = [];
    const r = await timeCpu(async () => {
      const t0 = performance.now();
      do {
        for (let i = 0; i < rows; i += batchSize) {
          const n = Math.min(batchSize, rows - i);
          const s = performance.now();
          await model.predict(all.subarray(i * width, (i + n) * width), n, width);
          lat.push(performance.now() - s);
          done += n;
        }
      } while ((performance.now() - t0) / 1000 < minSeconds);
    });
    lat.sort((a, b) => a - b);
    const perRowUs = r.cpuUs / done;
    return {
      events: done,
      seconds: r.seconds,
      events_per_s: done / r.seconds,
      rows_per_s: done / r.seconds,
      batch_size: batchSize,
      cpu_us_per_event: { bench: perRowUs },
      cpu_us_per_row: perRowUs,
      /** Per input event: rows to score per message × µs per row. */
      cpu_us_per_input_event: (perRowUs * rows) / events,
      run_ms_p50: lat[Math.floor(lat.length / 2)] ?? null,
      run_ms_p99: lat[Math.floor(lat.length * 0.99)] ?? null,
      event_loop_delay_p99_ms: r.eldP99,
    };
  }

  async function predictionBatches(
    batches: FetchBatch[],
  ): Promise<{ batches: PredictionBatch[]; events: number[] }> {
    const captured: PredictionBatch[] = [];
    const events: number[] = [];
    const capture: Sink = {
      name: 'capture',
      capabilities: { idempotent: true, maxBatchRows: 1e9 },
      open: async () => undefined,
      write: async (b) => {
        captured.push(b);
      },
      close: async () => undefined,
    };
    const batcher = new ModelBatcher(model, {
      maxSize: batchSize,
      maxWaitMs: p.spec.model.batch.max_wait_ms,
    });
    const processor = new BatchProcessor({
      pipeline: p.metadata.name,
      decoder: newDecoder(),
      mapper,
      models: fixedModel({ name: p.spec.model.name, version: p.spec.model.version ?? '1' }, batcher),
      sinks: [capture],
      deadLetters: { write: async () => undefined },
      retry: { maxRetries: 0, initialBackoffMs: 10 },
      metrics,
    });
    for (const b of batches) {
      const before = captured.length;
      await processor.process(b);
      if (captured.length > before) events.push(b.length);
      else if (events.length > 0) events[events.length - 1]! += b.length;
    }
    await batcher.close();
    return { batches: captured, events };
  }

  async function sinkStage(
    sink: Sink,
    batches: PredictionBatch[],
    events: number[],
    extra: Record<string, unknown>,
  ): Promise<StageResult> {
    await sink.open();
    // Warm the connections with the first batch, then time the rest.
    await sink.write(batches[0]!);
    const rest = batches.slice(1);
    const n = events.slice(1).reduce((a, b) => a + b, 0);
    const rows = rest.reduce((a, b) => a + b.rows.length, 0);
    const c0 = readCpu({ postgres: pids.postgres, kafka: pids.kafka });
    const r = await timeCpu(async () => {
      for (const b of rest) await sink.write(b);
    });
    const c1 = readCpu({ postgres: pids.postgres, kafka: pids.kafka });
    await sink.close();
    const d = cpuSince(c0, c1);
    return {
      events: n,
      rows,
      seconds: r.seconds,
      events_per_s: n / r.seconds,
      rows_per_s: rows / r.seconds,
      cpu_us_per_event: {
        bench: r.cpuUs / n,
        postgres: ((d.byName['postgres'] ?? 0) / n) * 1e6,
        kafka: ((d.byName['kafka'] ?? 0) / n) * 1e6,
      },
      event_loop_delay_p99_ms: r.eldP99,
      ...extra,
    };
  }

  async function postgresSink(batches: PredictionBatch[], events: number[]): Promise<StageResult> {
    const entry = p.spec.sinks.find((s) => s.postgres)!;
    const table = scoresTable(uniqueId());
    const sink = createSink(
      { postgres: { ...entry.postgres!, table } },
      { pipeline: p.metadata.name, schema, logger: silent },
    );
    try {
      return await sinkStage(sink, batches, events, { write_mode: entry.postgres!.write_mode, table });
    } finally {
      await dropScores(table);
    }
  }

  async function kafkaSink(batches: PredictionBatch[], events: number[]): Promise<StageResult> {
    const entry = p.spec.sinks.find((s) => s.kafka)!;
    const topic = `bench-out-${uniqueId()}`;
    await createTopic(args.kafka, topic, PARTITIONS);
    const sink = createSink(
      { kafka: { ...entry.kafka!, topic } },
      { pipeline: p.metadata.name, schema, kafka: args.kafka, logger: silent },
    );
    try {
      return await sinkStage(sink, batches, events, { format: entry.kafka!.format, acks: entry.kafka!.acks });
    } finally {
      await deleteTopics(args.kafka, [topic]);
    }
  }

  return {
    validated: v,
    decodeFeatures,
    onnx,
    predictionBatches,
    postgresSink,
    kafkaSink,
    close: () => registry.close(),
  };
}

/** kcat (librdkafka) reading the whole topic: the transport floor. Counts one line per message. */
export async function kcatConsume(
  brokers: string,
  topic: string,
  expected: number,
): Promise<StageResult | { error: string }> {
  // Bounded like the kafkajs floor: a kcat that never reaches the end fails this stage only.
  const script = `timeout 120 kcat -C -b '${brokers}' -t '${topic}' -o beginning -e -q -f '%o\\n' | wc -l; times`;
  const t0 = performance.now();
  const res = await new Promise<{ code: number | null; out: string; err: string }>((r) => {
    const c = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    c.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    c.on('exit', (code) => r({ code, out, err }));
    c.on('error', (e) => r({ code: -1, out, err: String(e) }));
  });
  const seconds = (performance.now() - t0) / 1000;
  const lines = res.out.trim().split('\n');
  const count = Number(lines[0]);
  if (res.code !== 0 || !Number.isFinite(count)) return { error: `kcat failed: ${res.err.slice(0, 300)}` };
  if (count < expected) return { error: `kcat read ${count} of ${expected} messages within 120 s` };
  // `times`: shell user/sys, then children user/sys ("0m1.234s 0m0.123s").
  const secs = (s: string) => {
    const m = /(\d+)m([\d.]+)s/.exec(s);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  };
  const kids = (lines[2] ?? '').split(/\s+/).reduce((a, s) => a + secs(s), 0);
  return {
    events: count,
    expected,
    seconds,
    events_per_s: count / seconds,
    cpu_us_per_event: { kcat: (kids / count) * 1e6 },
  };
}

/** kafkajs consumer with the source's group settings and a no-op eachBatch (resolve + commit, as the source). */
export async function kafkajsConsume(
  kafka: Kafka,
  topic: string,
  source: {
    session_timeout_ms: number;
    heartbeat_interval_ms: number;
    max_bytes_per_partition: number;
    partitions_consumed_concurrently: number;
  },
): Promise<StageResult> {
  const group = `bench-consume-${uniqueId()}`;
  const end = await endOffsets(kafka, topic);
  const total = [...end.values()].reduce((a, b) => a + Number(b), 0);
  const consumer = kafka.consumer({
    groupId: group,
    sessionTimeout: source.session_timeout_ms,
    heartbeatInterval: source.heartbeat_interval_ms,
    maxBytesPerPartition: source.max_bytes_per_partition,
  });
  let n = 0;
  let n0 = 0;
  let first = 0;
  let cpu0 = process.cpuUsage();
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  const h = monitorEventLoopDelay({ resolution: 5 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const c0 = readCpu({ kafka: stackPids().kafka });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: Math.max(1, source.partitions_consumed_concurrently),
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      if (batch.messages.length === 0) return;
      resolveOffset(batch.lastOffset());
      await consumer.commitOffsets([
        {
          topic: batch.topic,
          partition: batch.partition,
          offset: (BigInt(batch.lastOffset()) + 1n).toString(),
        },
      ]);
      await heartbeat();
      n += batch.messages.length;
      // The window starts when the first batch is committed (as for the end-to-end runs).
      if (first === 0) {
        first = performance.now();
        n0 = n;
        cpu0 = process.cpuUsage();
        h.enable();
      }
      if (n >= total) resolveDone();
    },
  });
  // Bounded: a consumer that stops fetching (kafkajs #1456) fails this stage, not the whole bench.
  const limitMs = Math.max(120000, total / 5);
  const complete = await settlesWithin(done, limitMs);
  const seconds = (performance.now() - first) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const c1 = readCpu({ kafka: stackPids().kafka });
  h.disable();
  await consumer.disconnect();
  await deleteGroups(kafka, [group]);
  if (!complete)
    throw new Error(`kafkajs consumed ${n} of ${total} messages of ${topic} within ${limitMs / 1000} s`);
  const kafkaCpu = cpuSince(c0, c1).byName['kafka'] ?? 0;
  const events = n - n0;
  return {
    events,
    seconds,
    events_per_s: events / seconds,
    cpu_us_per_event: { bench: (cpu.user + cpu.system) / events, kafka: (kafkaCpu / events) * 1e6 },
    event_loop_delay_p99_ms: h.percentile(99) / 1e6,
  };
}
