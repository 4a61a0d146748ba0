/**
 * Model rollouts (issue 14), three measures:
 *
 * - swap time: `streamscore run` (the e2e pipeline following `churn@champion` on a control topic of
 *   the run's own) under steady open-loop traffic; the champion moves 1 → 2 → 1 … (promote, then
 *   rollback) N times. Per move: from the move's append to the first output-topic row with the new
 *   `model_version` from every worker (the bench sends event k to partition k mod 6 and keys it by
 *   customer id, so a row's key names its input partition, and the group's assignment names the
 *   worker owning that partition). A move's time is its slowest worker's.
 * - shadow overhead: the same pipeline's catch-up rate on the Avro backlog without and with the
 *   shadow (`challenger` → churn/3, pairs written to a comparison table in the bench's Postgres),
 *   runs interleaved, median of each; plus the share of scored rows the shadow compared (it skips
 *   batches, counted, when `max_pending_batches` jobs are in flight).
 * - RSS over swaps: a child process (`--expose-gc`) holds the real PipelineModels with a hand-driven
 *   control feed and swaps churn/1 ↔ churn/3 100 times, scoring a batch after each; RSS after a
 *   forced GC at swaps 0, 10, 50, 100 (onnxruntime-node has kept memory after released sessions:
 *   onnxruntime#25325).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AssignerProtocol, type Kafka, type Message } from 'kafkajs';
import { parseDocument } from 'yaml';
import { eventStamp } from '../../workers/control/events.js';
import { appendControlEvent } from '../../workers/control/index.js';
import { readVersion } from '../../workers/models/catalog.js';
import { ensureAliases } from '../support/aliases.js';
import { dropPgTables, uniqueId } from '../support/stack.js';
import {
  BENCH_PIPELINE,
  dropScores,
  type E2eResult,
  pipelineEnv,
  runE2e,
  scoresTable,
  tableRows,
} from './e2e.js';
import { EnvelopeEncoder } from './events.js';
import { median, summarize } from './stats.js';
import {
  type BenchTopic,
  createTopic,
  deleteGroups,
  deleteTopics,
  endOffsets,
  PARTITIONS,
  setGroupOffsets,
} from './topic.js';
import { startWorker } from './worker.js';

const MODELS = resolve('pipelines/models');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The control topic of one bench run (removed at the end; `--cleanup` knows the pattern). */
export const controlTopicOf = (runId: string) => `bench-control-${runId}`;

/**
 * The e2e pipeline (churn-bench.yaml) with its model following `churn@champion` on `controlTopic`
 * (registry: pipelines/models), and the shadow `challenger` writing pairs to `shadowTable` when
 * given. Written under .bench/pipelines with absolute paths.
 */
export function rolloutPipeline(o: { name: string; controlTopic: string; shadowTable?: string }): string {
  const doc = parseDocument(readFileSync(BENCH_PIPELINE, 'utf8'));
  doc.setIn(['spec', 'features', 'input_schema'], resolve('schemas/crm.customers.avsc'));
  doc.deleteIn(['spec', 'model', 'version']);
  doc.deleteIn(['spec', 'model', 'path']);
  doc.setIn(['spec', 'model', 'alias'], 'champion');
  doc.setIn(['spec', 'model', 'registry'], MODELS);
  doc.setIn(['spec', 'model', 'control_topic'], o.controlTopic);
  if (o.shadowTable !== undefined) {
    doc.setIn(
      ['spec', 'model', 'shadow'],
      doc.createNode({
        alias: 'challenger',
        compare: { score: 'churn_probability', label: 'churn_label', threshold: 0.5 },
        table: o.shadowTable,
      }),
    );
  }
  const dir = resolve('.bench/pipelines');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${o.name}.yaml`);
  writeFileSync(file, doc.toString());
  return file;
}

async function appendMove(
  kafka: Kafka,
  topic: string,
  action: 'promote' | 'rollback',
  from: string,
  to: string,
): Promise<number> {
  const t = Date.now();
  await appendControlEvent(kafka, topic, {
    type: 'alias',
    action,
    model: 'churn',
    alias: 'champion',
    version: to,
    from,
    sha256: readVersion(MODELS, 'churn', to).sha256,
    by: 'bench',
    reason: 'bench: swap time',
    ...eventStamp(new Date(t)),
  });
  return t;
}

// ---- swap time ---------------------------------------------------------------------------------

export interface SwapMove {
  action: 'promote' | 'rollback';
  from: string;
  to: string;
  /** Slowest worker's first new-version row after the append; null if one never showed within the timeout. */
  ms: number | null;
  per_worker_ms: (number | null)[];
}

export interface SwapTimeResult {
  pipeline: string;
  workers: number;
  offered_events_per_s: number;
  moves: SwapMove[];
  /** Over moves (each its slowest worker). */
  swap_ms: { p50: number; p95: number; p99: number; max: number } | null;
  /** Moves where some worker wrote no new-version row within the timeout. */
  missed: number;
  output_rows_read: number;
  assignment: number[][];
  assignment_changed: boolean;
  note: string;
}

/** Creates for customers idBase + k, event k on partition k mod 6, `rate` a second until stopped. */
function steadyTraffic(kafka: Kafka, topic: BenchTopic, rate: number, idBase: number) {
  const enc = new EnvelopeEncoder(topic.names, topic.format, topic.ids);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  let running = true;
  let sent = 0;
  let failed = 0;
  const done = (async () => {
    await producer.connect();
    const t0 = performance.now();
    const inflight = new Set<Promise<unknown>>();
    try {
      while (running) {
        const due = Math.floor(((performance.now() - t0) * rate) / 1000);
        for (let from = sent; from < due; from += 500) {
          const msgs: Message[] = [];
          for (let k = from; k < Math.min(due, from + 500); k++) {
            const tsUs = Math.round((performance.timeOrigin + performance.now()) * 1000);
            const [r] = enc.encode({
              op: 'c',
              id: idBase + k,
              version: 0,
              tsUs,
              lsn: 0x7f000000 + k * 296,
              txId: 700_000 + k,
            });
            msgs.push({
              key: r!.key,
              value: r!.value,
              headers: r!.headers,
              partition: (idBase + k) % PARTITIONS,
            });
          }
          const p = producer.send({ topic: topic.topic, messages: msgs, acks: 1 }).then(
            () => undefined,
            () => {
              failed += msgs.length;
            },
          );
          inflight.add(p);
          void p.then(() => inflight.delete(p));
        }
        sent = Math.max(sent, due);
        await sleep(5);
      }
      await Promise.all(inflight);
    } finally {
      await producer.disconnect();
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { sent, failed };
    },
  };
}

async function groupAssignment(kafka: Kafka, group: string, topic: string): Promise<number[][]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const d = await admin.describeGroups([group]);
    const g = d.groups[0];
    if (g?.state !== 'Stable') return [];
    return g.members
      .map((m) => AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [])
      .map((ps) => [...ps].sort((a, b) => a - b))
      .sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
  } finally {
    await admin.disconnect();
  }
}

function quantiles(xs: number[]): { p50: number; p95: number; p99: number; max: number } | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  // nearest rank: with 20 moves p99 is the slowest move
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return { p50: median(s)!, p95: q(0.95), p99: q(0.99), max: s[s.length - 1]! };
}

export async function runSwapTime(o: {
  kafka: Kafka;
  topic: BenchTopic;
  runId: string;
  workers: number;
  moves: number;
  rate: number;
  moveTimeoutMs?: number;
}): Promise<SwapTimeResult> {
  const id = uniqueId();
  const table = scoresTable(id);
  const group = `bench-e2e-${id}`;
  const reader = `bench-rollread-${id}`;
  const output = `bench-scores-${id}`;
  const dlq = `bench-dlq-${id}`;
  const control = `${controlTopicOf(o.runId)}-swap`;
  const timeout = o.moveTimeoutMs ?? 15000;
  await ensureAliases({ churn: { champion: '1' } }, control);
  const pipeline = rolloutPipeline({ name: `rollout-swap-${id}`, controlTopic: control });
  await createTopic(o.kafka, output);
  await setGroupOffsets(o.kafka, group, o.topic.topic, await endOffsets(o.kafka, o.topic.topic));
  // What the output topic says: per row, when it was produced (CreateTime), its version and the input partition.
  const rows: { ts: number; version: string; partition: number }[] = [];
  const consumer = o.kafka.consumer({ groupId: reader, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic: output, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (!message.value) return;
      const v = JSON.parse(message.value.toString()) as { key: number; model_version: string };
      rows.push({
        ts: Number(message.timestamp),
        version: v.model_version,
        partition: Number(v.key) % PARTITIONS,
      });
    },
  });
  const worker = startWorker({
    pipeline,
    workers: o.workers,
    env: pipelineEnv({ topic: o.topic, group, table, output, dlq }),
    logFile: '.bench/logs/rollout-swap.log',
  });
  const traffic = steadyTraffic(o.kafka, o.topic, o.rate, 90_000_000);
  const moves: SwapMove[] = [];
  let assignment: number[][] = [];
  let changed = false;
  try {
    // Steady state: every worker in the group and writing.
    const ready = Date.now() + 90000;
    for (;;) {
      if (worker.exitCode() !== undefined) throw new Error(`worker exited: ${worker.output().slice(-1500)}`);
      assignment = await groupAssignment(o.kafka, group, o.topic.topic);
      const seen = new Set(rows.map((r) => r.partition));
      if (assignment.length === o.workers && seen.size === PARTITIONS) break;
      if (Date.now() > ready) throw new Error(`no steady state within 90 s: ${worker.output().slice(-1500)}`);
      await sleep(250);
    }
    await sleep(2000);
    let current = '1';
    for (let i = 0; i < o.moves; i++) {
      const to = current === '1' ? '2' : '1';
      const action = to === '2' ? 'promote' : 'rollback';
      const from = rows.length;
      const t = await appendMove(o.kafka, control, action, current, to);
      const firsts: (number | null)[] = assignment.map(() => null);
      const deadline = t + timeout;
      let scanned = from;
      while (firsts.some((f) => f === null) && Date.now() < deadline) {
        await sleep(20);
        for (; scanned < rows.length; scanned++) {
          const r = rows[scanned]!;
          if (r.version !== to || r.ts < t) continue;
          const w = assignment.findIndex((ps) => ps.includes(r.partition));
          if (w >= 0 && (firsts[w] === null || r.ts - t < firsts[w]!)) firsts[w] = r.ts - t;
        }
      }
      const missed = firsts.some((f) => f === null);
      moves.push({
        action,
        from: current,
        to,
        ms: missed ? null : Math.max(...(firsts as number[])),
        per_worker_ms: firsts,
      });
      current = to;
      // Let the last batches of the old version drain, then move again at a random point of a cycle.
      await sleep(1000 + Math.random() * 1000);
    }
    const after = await groupAssignment(o.kafka, group, o.topic.topic);
    changed = JSON.stringify(after) !== JSON.stringify(assignment);
  } finally {
    await traffic.stop();
    await worker.stop();
    await consumer.disconnect();
  }
  rmSync(pipeline, { force: true });
  await dropScores(table);
  await deleteTopics(o.kafka, [output, dlq, control]);
  await deleteGroups(o.kafka, [group, reader]);
  const times = moves.map((m) => m.ms).filter((x): x is number => x !== null);
  return {
    pipeline: BENCH_PIPELINE,
    workers: o.workers,
    offered_events_per_s: o.rate,
    moves,
    swap_ms: quantiles(times),
    missed: moves.filter((m) => m.ms === null).length,
    output_rows_read: rows.length,
    assignment,
    assignment_changed: changed,
    note: 'per move: append of the alias move on the control topic → first output row (Kafka CreateTime) with the new model_version from every worker; p99 by nearest rank over the moves',
  };
}

// ---- shadow overhead ---------------------------------------------------------------------------

export interface ShadowOverheadResult {
  workers: number;
  off: { events_per_s: ReturnType<typeof summarize>; worker_cpu_us_per_event: ReturnType<typeof summarize> };
  on: {
    events_per_s: ReturnType<typeof summarize>;
    worker_cpu_us_per_event: ReturnType<typeof summarize>;
    /** Pairs in the comparison table ÷ rows the champion scored, per completed run. */
    shadow_coverage: ReturnType<typeof summarize>;
  };
  /** Median with shadow ÷ median without. */
  throughput_ratio: number | null;
  /** 1 − ratio (target ≤ 0.15). */
  shadow_cost: number | null;
  runs: {
    shadow: boolean;
    run: E2eResult | { error: string };
    pairs?: number | null;
    scored?: number | null;
  }[];
}

export async function runShadowOverhead(o: {
  kafka: Kafka;
  topic: BenchTopic;
  runId: string;
  workers: number;
  repeats: number;
  capSeconds: number;
  attempt: <T>(name: string, fn: () => Promise<T>) => Promise<T | { error: string }>;
}): Promise<ShadowOverheadResult> {
  const control = `${controlTopicOf(o.runId)}-shadow`;
  await ensureAliases({ churn: { champion: '1', challenger: '3' } }, control);
  const runs: ShadowOverheadResult['runs'] = [];
  // Rows the champion scores in a full catch-up: creates and updates (deletes are not scored), and
  // the creates other measures appended to the topic after the backlog.
  const end = await endOffsets(o.kafka, o.topic.topic);
  const appended = [...end.values()].reduce((a, b) => a + Number(b), 0) - o.topic.messages;
  const scored = o.topic.ops.c + o.topic.ops.u + appended;
  try {
    for (let i = 0; i < o.repeats; i++) {
      for (const shadow of [false, true]) {
        const sid = uniqueId();
        const shadowTable = shadow ? `ml.bench_${sid}__shadow` : undefined;
        const pipeline = rolloutPipeline({
          name: `rollout-${shadow ? 'shadow' : 'plain'}-${sid}`,
          controlTopic: control,
          ...(shadowTable ? { shadowTable } : {}),
        });
        const r = await o.attempt(`rollout: catch-up, shadow ${shadow ? 'on' : 'off'} #${i + 1}`, () =>
          runE2e({
            kafka: o.kafka,
            topic: o.topic,
            workers: o.workers,
            capSeconds: o.capSeconds,
            label: `rollout-shadow-${shadow ? 'on' : 'off'}-${i + 1}`,
            pipeline,
          }),
        );
        const entry: ShadowOverheadResult['runs'][number] = { shadow, run: r };
        if (shadowTable) {
          entry.pairs = await tableRows(shadowTable);
          entry.scored = 'error' in r || !r.completed ? null : scored;
          await dropPgTables(shadowTable);
        }
        rmSync(pipeline, { force: true });
        runs.push(entry);
      }
    }
  } finally {
    await deleteTopics(o.kafka, [control]);
  }
  const good = (shadow: boolean) =>
    runs
      .filter((r) => r.shadow === shadow)
      .map((r) => ('error' in r.run ? undefined : r.run))
      .filter((r): r is E2eResult => r !== undefined && r.events_per_s !== null);
  const off = good(false);
  const on = good(true);
  const offRate = summarize(off.map((r) => r.events_per_s));
  const onRate = summarize(on.map((r) => r.events_per_s));
  const ratio = offRate.median && onRate.median ? onRate.median / offRate.median : null;
  return {
    workers: o.workers,
    off: {
      events_per_s: offRate,
      worker_cpu_us_per_event: summarize(off.map((r) => r.cpu_us_per_event['worker'])),
    },
    on: {
      events_per_s: onRate,
      worker_cpu_us_per_event: summarize(on.map((r) => r.cpu_us_per_event['worker'])),
      shadow_coverage: summarize(
        runs.filter((r) => r.shadow && r.pairs != null && r.scored).map((r) => r.pairs! / r.scored!),
      ),
    },
    throughput_ratio: ratio,
    shadow_cost: ratio === null ? null : 1 - ratio,
    runs,
  };
}

// ---- RSS over swaps ----------------------------------------------------------------------------

export interface SwapRssResult {
  swaps: number;
  gc: boolean;
  /** RSS (MB) after a forced GC at these swap counts. */
  rss_mb: Record<string, number>;
  heap_used_mb: Record<string, number>;
  external_mb: Record<string, number>;
  /** RSS at the last sample vs swap 0. */
  growth_pct: number;
  growth_mb: number;
  /** Growth between swap 10 and the last (after the first swaps warmed the allocator). */
  growth_pct_after_10: number;
  rows_per_batch: number;
}

/** Runs the swap loop in a child process (`node --expose-gc`), so the bench's own memory is not in it. */
export async function runSwapRss(o: { swaps: number; runId: string }): Promise<SwapRssResult> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      resolve('test/bench/rollout.ts'),
      '--swap-rss',
      String(o.swaps),
      o.runId,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`swap-rss child exited ${code}: ${(out + err).slice(-1500)}`);
  return JSON.parse(line) as SwapRssResult;
}

async function swapRssChild(swaps: number, runId: string): Promise<void> {
  const { silentLogger } = await import('../../workers/core/silent-logger.js');
  const { ModelRegistry } = await import('../../workers/inference/index.js');
  const { PipelineModels } = await import('../../workers/rollout/pipeline-models.js');
  const { validatePipelineFile } = await import('../../workers/spec/validate.js');
  const { FakeControlFeed } = await import('../support/rollout.js');
  const file = rolloutPipeline({ name: `rollout-rss-${runId}`, controlTopic: 'bench-unused' });
  const v = await validatePipelineFile(file, { env: {} });
  if (v.problems.length > 0) throw new Error(JSON.stringify(v.problems));
  const feed = new FakeControlFeed();
  feed.promote('churn', 'champion', '1');
  const registry = new ModelRegistry();
  const pm = await PipelineModels.create({
    file,
    pipeline: v.pipeline!,
    checked: v.checked!,
    registry,
    logger: silentLogger,
    control: feed,
  });
  const rowsPerBatch = 512;
  const features = new Float32Array(rowsPerBatch * 8);
  for (let i = 0; i < features.length; i++) features[i] = (i * 7919) % 97;
  const gc = (globalThis as { gc?: () => void }).gc;
  const score = async () => {
    const lease = pm.lease();
    try {
      await lease.primary.predictor.predict(features, rowsPerBatch);
    } finally {
      lease.primary.release();
    }
  };
  const samples = new Map<number, NodeJS.MemoryUsage>();
  const sample = async (n: number) => {
    for (let i = 0; i < 3; i++) {
      gc?.();
      await sleep(50);
    }
    samples.set(n, process.memoryUsage());
  };
  const at = new Set([0, 1, 10, 20, 50, 100, 200, 300, swaps]);
  await score();
  await sample(0);
  for (let n = 1; n <= swaps; n++) {
    feed.promote('churn', 'champion', n % 2 === 1 ? '3' : '1');
    await pm.settled();
    await score();
    if (at.has(n)) await sample(n);
  }
  await pm.close();
  await registry.close();
  rmSync(file, { force: true });
  const mb = (k: keyof NodeJS.MemoryUsage) =>
    Object.fromEntries([...samples].map(([n, m]) => [String(n), Math.round((m[k] / 1048576) * 10) / 10]));
  const rss = (n: number) => samples.get(n)!.rss;
  const result: SwapRssResult = {
    swaps,
    gc: gc !== undefined,
    rss_mb: mb('rss'),
    heap_used_mb: mb('heapUsed'),
    external_mb: mb('external'),
    growth_pct: ((rss(swaps) - rss(0)) / rss(0)) * 100,
    growth_mb: (rss(swaps) - rss(0)) / 1048576,
    growth_pct_after_10: ((rss(swaps) - rss(Math.min(10, swaps))) / rss(Math.min(10, swaps))) * 100,
    rows_per_batch: rowsPerBatch,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[2] === '--swap-rss') {
  await swapRssChild(Number(process.argv[3] ?? 100), process.argv[4] ?? uniqueId());
  process.exit(0);
}
