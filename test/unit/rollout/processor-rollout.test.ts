import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../../workers/core/silent-logger.js';
import type { ChangeRecord, DecodedBatch, PredictionBatch, Sink } from '../../../workers/core/types.js';
import { compileExpression } from '../../../workers/expr/index.js';
import { FeatureMapper } from '../../../workers/features/mapper.js';
import { createMetrics, noopMeter } from '../../../workers/observability/metrics.js';
import { inCanary } from '../../../workers/rollout/canary.js';
import { ShadowRunner } from '../../../workers/rollout/shadow-runner.js';
import {
  BatchProcessor,
  type LeasedModel,
  type ModelSource,
  type Predictor,
  type ShadowJob,
} from '../../../workers/runtime/batch-processor.js';
import type { ShadowPairBatch } from '../../../workers/shadow/index.js';

const metrics = createMetrics(noopMeter(), 'p', silentLogger);
const expr = (source: string) => {
  const r = compileExpression(source);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
};

function records(n: number): ChangeRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    op: 'c' as const,
    root: { id: i + 1, amount: i + 1 },
    position: BigInt(100 + i),
    sourceTsMs: 1000,
    origin: undefined,
  }));
}

/** A model whose score is amount × factor. */
const scaled = (factor: number, calls: number[] = []): Predictor => ({
  outputFields: ['score'],
  predict: async (f, rows) => {
    calls.push(rows);
    return { score: Float64Array.from({ length: rows }, (_, i) => f[i]! * factor) };
  },
});

function leased(version: string, predictor: Predictor, released: string[]): LeasedModel {
  return {
    info: { name: 'm', version, sha256: `sha-${version}` },
    predictor,
    release: () => released.push(version),
  };
}

class MemorySink implements Sink {
  readonly name = 'memory';
  readonly capabilities = { idempotent: true, maxBatchRows: 10_000 };
  batches: PredictionBatch[] = [];
  async open() {}
  async close() {}
  async write(b: PredictionBatch) {
    this.batches.push(b);
  }
}

function processor(models: ModelSource, sink: Sink, shadow?: { submit(j: ShadowJob): void }) {
  return new BatchProcessor({
    pipeline: 'p',
    decoder: { decodeBatch: async (): Promise<DecodedBatch> => ({ records: [], failures: [], skipped: 0 }) },
    mapper: new FeatureMapper({
      pipeline: 'p',
      key: expr('id'),
      features: [{ name: 'amount', type: 'float', expr: expr('amount'), width: 1, onNull: 0 }],
      scoreOps: ['c', 'u', 'r'],
    }),
    models,
    shadow,
    sinks: [sink],
    deadLetters: undefined,
    retry: { maxRetries: 0, initialBackoffMs: 1 },
    metrics,
  });
}

test('a canary scores exactly its keys’ rows; each of them names the canary version, the batch the primary', async () => {
  const released: string[] = [];
  const sink = new MemorySink();
  const models: ModelSource = {
    outputFields: ['score'],
    lease: () => ({
      primary: leased('1', scaled(1), released),
      canary: leased('2', scaled(10), released),
      canaryPercent: 30,
    }),
  };
  const recs = records(2000);
  await processor(models, sink).processDecoded({ records: recs, failures: [], skipped: 0 }, recs.length);
  const b = sink.batches[0]!;
  assert.equal(b.model.version, '1');
  let onCanary = 0;
  for (const row of b.rows) {
    const expected = inCanary(row.key, 30);
    onCanary += expected ? 1 : 0;
    assert.equal(row.model?.version, expected ? '2' : undefined, `key ${row.key}`);
    assert.equal(row.values[0], Number(row.key) * (expected ? 10 : 1), `key ${row.key}`);
  }
  assert.ok(Math.abs(onCanary / 20 - 30) <= 3, `canary share ${onCanary / 20} %`);
  assert.deepEqual(released.sort(), ['1', '2']);
});

test('the shadow gets the primary’s rows and columns (not the canary’s), and its lease goes with the job', async () => {
  const released: string[] = [];
  const jobs: ShadowJob[] = [];
  const sink = new MemorySink();
  const models: ModelSource = {
    outputFields: ['score'],
    lease: () => ({
      primary: leased('1', scaled(1), released),
      shadow: leased('3', scaled(2), released),
      canary: leased('2', scaled(10), released),
      canaryPercent: 50,
    }),
  };
  const recs = records(100);
  await processor(models, sink, { submit: (j) => jobs.push(j) }).processDecoded(
    { records: recs, failures: [], skipped: 0 },
    recs.length,
  );
  assert.equal(jobs.length, 1);
  const j = jobs[0]!;
  const primaryRows = sink.batches[0]!.rows.filter((r) => r.model === undefined).map((r) => r.key);
  assert.deepEqual(
    j.rowsOfChampion?.map((i) => j.keys[i]),
    primaryRows,
  );
  assert.deepEqual(Array.from(j.championColumns['score']!), primaryRows.map(Number));
  // The processor released the primary's and canary's leases; the shadow's belongs to the job.
  assert.deepEqual(released.sort(), ['1', '2']);
});

test('the shadow runner writes pairs for the primary’s rows; a failing or slow shadow never touches the primary', async () => {
  const written: ShadowPairBatch[] = [];
  const skipped: string[] = [];
  const counts = { pairs: 0, flips: 0 };
  const runner = (maxPending = 4) =>
    new ShadowRunner({
      pipeline: 'p',
      compare: { score: 'score', threshold: 5 },
      table: { write: async (b) => void written.push(b) },
      maxPending,
      counters: {
        pairs: (n, _a, f) => {
          counts.pairs += n;
          counts.flips += f;
        },
        absDelta: () => undefined,
        inferenceMs: () => undefined,
        skipped: (n, reason) => skipped.push(`${reason}:${n}`),
      },
      logger: silentLogger,
    });
  const released: string[] = [];
  const sink = new MemorySink();
  let shadowPredict: Predictor['predict'] = scaled(2).predict;
  let r = runner();
  const models: ModelSource = {
    outputFields: ['score'],
    lease: () => ({
      primary: leased('1', scaled(1), released),
      shadow: leased('3', { outputFields: ['score'], predict: (f, n) => shadowPredict(f, n) }, released),
      canaryPercent: 0,
    }),
  };
  const recs = records(10);
  const run = async () => {
    await processor(models, sink, r).processDecoded({ records: recs, failures: [], skipped: 0 }, recs.length);
    await r.drain();
  };
  await run();
  assert.equal(written.length, 1);
  assert.deepEqual(
    written[0]!.positions,
    recs.map((x) => String(x.position)),
  );
  assert.deepEqual(
    Array.from(written[0]!.shadowColumns['score']!),
    recs.map((x) => Number(x.root['amount']) * 2),
  );
  // Scores 1..10 vs 2..20 at threshold 5: keys 3 and 4 flip (6, 8 ≥ 5 > 3, 4).
  assert.deepEqual(counts, { pairs: 10, flips: 2 });

  shadowPredict = async () => {
    throw new Error('shadow exploded');
  };
  await run();
  assert.equal(sink.batches.length, 2);
  assert.equal(sink.batches[1]!.rows.length, 10);
  assert.deepEqual(skipped, ['failed:10']);

  // A shadow that never answers: beyond max_pending, batches are skipped, never waited for.
  shadowPredict = () => new Promise(() => undefined);
  r = runner(1);
  for (let i = 0; i < 3; i++) {
    await processor(models, sink, r).processDecoded({ records: recs, failures: [], skipped: 0 }, recs.length);
  }
  assert.equal(sink.batches.length, 5);
  assert.deepEqual(skipped, ['failed:10', 'backlog:10', 'backlog:10']);
  assert.ok(released.filter((v) => v === '3').length >= 3);
});
