/**
 * Streaming drift's cost (issue 17): the drift monitor's work per event, measured on the very
 * batches the engine builds from the benchmark topic (decode → features → churn/1 → rows), windows
 * of the pipeline's default size closing and evaluated as they fill; compared with the worker's
 * whole CPU per event in a catch-up run (the e2e scenario's 1-worker Avro median when it ran, else
 * one run here). Target: drift ≤ 3 % of the worker's CPU.
 */
import type { Kafka } from 'kafkajs';
import { DriftMonitor } from '../../workers/drift/monitor.js';
import { readVersion } from '../../workers/models/catalog.js';
import { BENCH_PIPELINE, runE2e } from './e2e.js';
import { buildStages, type FetchBatch } from './stages.js';
import type { BenchTopic } from './topic.js';

export interface DriftCostResult {
  events: number;
  scored_rows: number;
  windows_closed: number;
  seconds: number;
  /** Drift monitor CPU per input event (this process, observe + window evaluation). */
  drift_cpu_us_per_event: number;
  drift_cpu_us_per_row: number;
  /** The worker's CPU per event in a catch-up (drift on), and where that figure comes from. */
  worker_cpu_us_per_event: number | null;
  worker_source: string;
  /** The baseline run's state when it was made here (completed, rate, error, load). */
  worker_run?: { completed: boolean; events_per_s: number | null; load_avg_1m: number; error?: string };
  /** drift ÷ worker (target ≤ 0.03). */
  share_of_worker_cpu: number | null;
  /** Decode + features + ONNX CPU per event in this process: less than the worker's whole CPU. */
  stages_cpu_us_per_event: number;
  /** drift ÷ those stages: an upper bound of the share of the worker's CPU. */
  share_of_stages_cpu: number;
}

export async function runDriftCost(o: {
  kafka: Kafka;
  topic: BenchTopic;
  sample: FetchBatch[];
  seconds: number;
  capSeconds: number;
  /** The worker's CPU µs per event from this run's e2e scenario, if measured. */
  workerCpuUsPerEvent?: number | null;
}): Promise<DriftCostResult> {
  if (o.sample.length === 0) throw new Error('no sample: the benchmark topic gave no messages in time');
  const stages = await buildStages({
    pipeline: BENCH_PIPELINE,
    format: o.topic.format,
    kafka: o.kafka,
    env: {
      CHURN_SCORES_TABLE: 'ml.bench_unused',
      CHURN_OUTPUT_TOPIC: 'bench-unused',
      CHURN_DLQ: 'bench-unused-dlq',
    },
  });
  let built: Awaited<ReturnType<typeof stages.predictionBatches>>;
  // The worker's own stages in this process (decode + features, ONNX): a floor of its CPU per
  // event (it also writes the sinks), measured even when the catch-up run below does not finish.
  let stagesUs: number;
  try {
    built = await stages.predictionBatches(o.sample);
    const df = await stages.decodeFeatures(o.sample, o.seconds);
    const onnx = await stages.onnx(o.sample, o.seconds);
    stagesUs = (df.cpu_us_per_event['bench'] ?? 0) + Number(onnx['cpu_us_per_input_event'] ?? 0);
  } finally {
    await stages.close();
  }
  const p = stages.validated.pipeline!;
  const outputs = Object.keys(p.spec.model.outputs ?? {});
  const featureNames = stages.validated.checked!.features.map((f) => f.name);
  const width = featureNames.length;
  // The matrices the mapper built, back from the rows (outputs first, then every feature).
  const inputs = built.batches.map((b) => {
    const scored = b.rows.filter((r) => r.values.length > 0);
    const features = new Float32Array(scored.length * width);
    scored.forEach((r, i) => {
      for (let f = 0; f < width; f++) features[i * width + f] = r.values[outputs.length + f] as number;
    });
    return { features, rows: scored, nullMask: new Uint8Array(features.length) };
  });
  const events = built.events.reduce((a, b) => a + b, 0);
  const rowsPerPass = inputs.reduce((a, b) => a + b.rows.length, 0);
  const version = readVersion('pipelines/models', 'churn', '1');
  const info = { name: 'churn', version: '1', sha256: version.sha256 };
  let windows = 0;
  const monitor = new DriftMonitor({
    pipeline: p.metadata.name,
    featureNames,
    outputFields: outputs,
    outputRefs: p.spec.model.outputs,
    window: {
      events: p.spec.monitoring.window.events,
      maxSeconds: p.spec.monitoring.window.max_seconds,
      minEvents: p.spec.monitoring.window.min_events,
    },
    fdr: p.spec.monitoring.drift.fdr,
    distributions: () => version.distributions,
    onWindow: () => {
      windows++;
    },
  });
  const pass = () => {
    for (const x of inputs) monitor.observe(x.features, x.rows.length, width, x.rows, info, x.nullMask);
  };
  for (let i = 0; i < 3; i++) pass(); // warm-up
  windows = 0;
  let passes = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  do {
    pass();
    passes++;
  } while ((performance.now() - t0) / 1000 < o.seconds);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = cpu.user + cpu.system;
  let worker = o.workerCpuUsPerEvent ?? null;
  let workerSource = 'e2e avro 1 worker (median), drift on';
  let workerRun: DriftCostResult['worker_run'];
  if (worker === null) {
    const r = await runE2e({
      kafka: o.kafka,
      topic: o.topic,
      workers: 1,
      capSeconds: o.capSeconds,
      label: 'drift-worker-baseline',
    });
    worker = r.cpu_us_per_event['worker'] ?? null;
    workerRun = {
      completed: r.completed,
      events_per_s: r.events_per_s,
      load_avg_1m: r.load_avg_1m,
      ...(r.error === undefined ? {} : { error: r.error }),
    };
    workerSource = 'a 1-worker catch-up run here, drift on';
  }
  const perEvent = cpuUs / (events * passes);
  return {
    events: events * passes,
    scored_rows: rowsPerPass * passes,
    windows_closed: windows,
    seconds,
    drift_cpu_us_per_event: perEvent,
    drift_cpu_us_per_row: cpuUs / (rowsPerPass * passes),
    worker_cpu_us_per_event: worker,
    worker_source: workerSource,
    ...(workerRun === undefined ? {} : { worker_run: workerRun }),
    share_of_worker_cpu: worker ? perEvent / worker : null,
    stages_cpu_us_per_event: stagesUs,
    share_of_stages_cpu: perEvent / stagesUs,
  };
}
