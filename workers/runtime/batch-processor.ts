import { PipelineError } from '../core/errors.js';
import { bigintAsText } from '../core/int64.js';
import { rawMessageOf } from '../core/raw-message.js';
import type {
  ChangeRecord,
  DecodedBatch,
  Decoder,
  ModelInfo,
  PredictionBatch,
  PredictionRow,
  RawMessage,
  Sink,
} from '../core/types.js';
import type { FeatureMapper } from '../features/mapper.js';
import type { Metrics } from '../observability/metrics.js';
import { inCanary } from '../rollout/canary.js';
import { type RetryPolicy, withRetry } from './retry.js';
import { type RowRejection, writeIsolatingRows } from './row-isolation.js';

/** Runs the model on a feature matrix; returns one column per prediction field (already mapped). */
export interface Predictor {
  readonly outputFields: readonly string[];
  predict(features: Float32Array, rows: number): Promise<Record<string, ArrayLike<unknown>>>;
}

/** One model version leased for one batch; `release` when the batch is done with it. */
export interface LeasedModel {
  info: ModelInfo;
  predictor: Predictor;
  release(): void;
}

/** The versions one batch scores with: the primary, and a shadow and a canary when active. */
export interface ModelLease {
  primary: LeasedModel;
  shadow?: LeasedModel | undefined;
  canary?: LeasedModel | undefined;
  /** Share of keys (0–100) the canary scores. */
  canaryPercent: number;
}

/** Where batches get their models: fixed, or following aliases (rollout/pipeline-models.ts). */
export interface ModelSource {
  readonly outputFields: readonly string[];
  lease(): ModelLease;
  /** Resolves when the pipeline may write (suspension); may call onWait meanwhile. */
  waitOpen?(onWait?: () => Promise<void>): Promise<void>;
}

/** Scores a batch with a shadow model after the primary, detached from the primary's writes. */
export interface ShadowScorer {
  submit(job: ShadowJob): void;
}

export interface ShadowJob {
  shadow: LeasedModel;
  champion: ModelInfo;
  championMs: number;
  features: Float32Array;
  rows: number;
  /** Rows of the batch the primary scored (the others went to a canary); all when undefined. */
  rowsOfChampion: number[] | undefined;
  championColumns: Record<string, ArrayLike<unknown>>;
  keys: unknown[];
  positions: bigint[];
  scoredAt: Date;
}

/** A source of one fixed model (backfill tools, tests). */
export function fixedModel(info: ModelInfo, predictor: Predictor): ModelSource {
  const primary: LeasedModel = { info, predictor, release: () => undefined };
  return { outputFields: predictor.outputFields, lease: () => ({ primary, canaryPercent: 0 }) };
}

export interface DeadLetters {
  write(failures: { message: RawMessage; error: PipelineError }[]): Promise<void>;
}

export interface BatchProcessorDeps {
  pipeline: string;
  decoder: Decoder;
  mapper: FeatureMapper;
  models: ModelSource;
  shadow?: ShadowScorer | undefined;
  sinks: readonly Sink[];
  deadLetters: DeadLetters | undefined;
  retry: RetryPolicy;
  metrics: Metrics;
  now?: () => Date;
  /** `unavailable_value: lookup`: fills unchanged TOASTed columns from the source table (retried). */
  unavailable?: ((batch: DecodedBatch) => Promise<unknown>) | undefined;
}

export interface BatchResult {
  scored: number;
  deleted: number;
  deadLettered: number;
  skipped: number;
}

/**
 * One fetch's messages through decode → features → inference → every sink in parallel.
 * Resolves only when every sink has durably written every row and every failure is dead-lettered,
 * so the caller may then commit the offsets. Transient sink errors are retried while `onWait`
 * keeps the consumer alive; terminal errors reject (the caller must not commit). With a dead-letter
 * topic, rows a sink rejects for their values are isolated and dead-lettered (see row-isolation.ts).
 */
export class BatchProcessor {
  readonly fields: readonly string[];
  constructor(private readonly deps: BatchProcessorDeps) {
    this.fields = [...deps.models.outputFields, ...deps.mapper.names.map((n) => `feature.${n}`)];
  }

  async process(messages: readonly RawMessage[], onWait?: () => Promise<void>): Promise<BatchResult> {
    const decoded = await this.deps.decoder.decodeBatch(messages);
    const fill = this.deps.unavailable;
    if (fill !== undefined) await withRetry(() => fill(decoded), this.deps.retry, { onWait });
    return this.processDecoded(decoded, messages.length, onWait);
  }

  /**
   * The shared path of streaming and backfill: features → inference → sinks (+ dead letters).
   * Backfills build their ChangeRecords from table rows and enter here, so both modes run the
   * very same features, model and sinks.
   */
  async processDecoded(
    decoded: DecodedBatch,
    received: number,
    onWait?: () => Promise<void>,
  ): Promise<BatchResult> {
    const d = this.deps;
    // A suspended pipeline waits here, before anything is scored or written (offsets stay put).
    await d.models.waitOpen?.(onWait);
    const lease = d.models.lease();
    let shadowHandedOff = false;
    try {
      return await this.#score(decoded, received, lease, onWait, () => {
        shadowHandedOff = true;
      });
    } finally {
      lease.primary.release();
      lease.canary?.release();
      if (!shadowHandedOff) lease.shadow?.release();
    }
  }

  async #score(
    decoded: DecodedBatch,
    received: number,
    lease: ModelLease,
    onWait: (() => Promise<void>) | undefined,
    handOffShadow: () => void,
  ): Promise<BatchResult> {
    const d = this.deps;
    const mapped = d.mapper.map(decoded.records);
    const failures = [
      ...decoded.failures,
      ...mapped.failures.map((f) => ({ message: rawMessageOf(f.record), error: f.error })),
    ];
    const rows: PredictionRow[] = [];
    const scoredAt = (d.now ?? (() => new Date()))();
    const n = mapped.scored.length;
    let shadowJob: ShadowJob | undefined;
    if (n > 0) {
      const width = mapped.width;
      const split = lease.canary ? splitCanary(mapped.scoredKeys, lease.canaryPercent) : undefined;
      const started = performance.now();
      const scored = await scoreSplit(lease, mapped.features, n, width, split);
      const championMs = performance.now() - started;
      d.metrics.inferenceMs.record(championMs);
      d.metrics.batchSize.record(n);
      const fields = d.models.outputFields;
      const featureCount = d.mapper.names.length;
      const canaryInfo = lease.canary?.info;
      const primaryOuts = fields.map((f) => scored.primary[f]!);
      const canaryOuts = scored.canary ? fields.map((f) => scored.canary![f]!) : primaryOuts;
      for (let i = 0; i < n; i++) {
        const rec = mapped.scored[i]!;
        const values = new Array<unknown>(fields.length + featureCount);
        const onCanary = split !== undefined && split.side[i] === 1;
        const outs = onCanary ? canaryOuts : primaryOuts;
        const at = split === undefined ? i : split.indexIn[i]!;
        for (let o = 0; o < outs.length; o++) values[o] = outs[o]![at];
        for (let f = 0; f < featureCount; f++) values[fields.length + f] = mapped.features[i * width + f];
        const row: PredictionRow = {
          key: mapped.scoredKeys[i],
          op: rec.op,
          values,
          position: rec.position,
          scoredAt,
          sourceTsMs: rec.sourceTsMs,
          origin: rec.origin,
        };
        if (onCanary) row.model = canaryInfo!;
        rows.push(row);
      }
      if (lease.shadow && d.shadow) {
        shadowJob = {
          shadow: lease.shadow,
          champion: lease.primary.info,
          championMs,
          features: mapped.features,
          rows: n,
          rowsOfChampion: split?.primaryRows,
          championColumns: scored.primary,
          keys: mapped.scoredKeys,
          positions: mapped.scored.map((r) => r.position),
          scoredAt,
        };
      }
    }
    // The shadow is scored and compared off the primary's path: it never delays or fails a write.
    if (shadowJob) {
      handOffShadow();
      d.shadow!.submit(shadowJob);
    }
    mapped.deletes.forEach((rec, i) => {
      rows.push({
        key: mapped.deleteKeys[i],
        op: 'd',
        values: [],
        position: rec.position,
        scoredAt,
        sourceTsMs: rec.sourceTsMs,
      });
    });

    const batch: PredictionBatch = {
      pipeline: d.pipeline,
      model: lease.primary.info,
      shadow: lease.shadow?.info,
      fields: this.fields,
      rows,
    };
    const writes: Promise<unknown>[] = [];
    const rejections: SinkRejection[] = [];
    if (rows.length > 0) {
      for (const sink of d.sinks) {
        const write = (b: PredictionBatch) =>
          withRetry(() => sink.write(b), d.retry, {
            onWait,
            onRetry: (err, attempt, delay) => d.metrics.sinkRetry(sink.name, err, attempt, delay),
          });
        // With a dead-letter topic, rows a sink rejects for their values go there, and the rest
        // are written; without one, the error stops the worker (nothing is dropped silently).
        writes.push(
          d.deadLetters
            ? writeIsolatingRows(batch, write).then((rejected) => {
                for (const r of rejected) rejections.push({ ...r, sink: sink.name });
              })
            : write(batch),
        );
      }
    }
    if (failures.length > 0) {
      if (!d.deadLetters) {
        const first = failures[0]!.error;
        throw Object.assign(first, {
          message: `${first.message} (no dead_letter_topic configured, so the worker stops rather than drop it)`,
        });
      }
      const dlq = d.deadLetters;
      writes.push(withRetry(() => dlq.write(failures), d.retry, { onWait }));
    }
    await Promise.all(writes);
    let rejected = 0;
    if (rejections.length > 0) {
      const letters = rejectedLetters(rejections, rows, (i) =>
        i < n ? mapped.scored[i]! : mapped.deletes[i - n]!,
      );
      const dlq = d.deadLetters!;
      await withRetry(() => dlq.write(letters), d.retry, { onWait });
      d.metrics.deadLettered.add(letters.length);
      rejected = letters.length;
    }
    const now = Date.now();
    for (const r of rows) d.metrics.endToEndMs.record(now - r.sourceTsMs);
    d.metrics.recordsIn.add(received);
    d.metrics.recordsOut.add(rows.length);
    if (failures.length > 0) d.metrics.deadLettered.add(failures.length);
    return {
      scored: n,
      deleted: mapped.deletes.length,
      deadLettered: failures.length + rejected,
      skipped: decoded.skipped,
    };
  }
}

/** Which rows a canary scores: side[i] = 1 for the canary; indexIn[i] = the row's index on its side. */
interface CanarySplit {
  side: Uint8Array;
  indexIn: Uint32Array;
  primaryRows: number[];
  canaryRows: number[];
}

function splitCanary(keys: readonly unknown[], percent: number): CanarySplit {
  const n = keys.length;
  const side = new Uint8Array(n);
  const indexIn = new Uint32Array(n);
  const primaryRows: number[] = [];
  const canaryRows: number[] = [];
  for (let i = 0; i < n; i++) {
    if (inCanary(keys[i], percent)) {
      side[i] = 1;
      indexIn[i] = canaryRows.length;
      canaryRows.push(i);
    } else {
      indexIn[i] = primaryRows.length;
      primaryRows.push(i);
    }
  }
  return { side, indexIn, primaryRows, canaryRows };
}

function pick(features: Float32Array, width: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    out.set(features.subarray(r * width, (r + 1) * width), i * width);
  }
  return out;
}

/** The primary's columns (all rows, or its share of a canary split) and the canary's share. */
async function scoreSplit(
  lease: ModelLease,
  features: Float32Array,
  n: number,
  width: number,
  split: CanarySplit | undefined,
): Promise<{ primary: Record<string, ArrayLike<unknown>>; canary?: Record<string, ArrayLike<unknown>> }> {
  if (split === undefined || split.canaryRows.length === 0) {
    return { primary: await lease.primary.predictor.predict(features, n) };
  }
  const canary = lease.canary!.predictor.predict(
    pick(features, width, split.canaryRows),
    split.canaryRows.length,
  );
  const primary =
    split.primaryRows.length === 0
      ? Promise.resolve({})
      : lease.primary.predictor.predict(pick(features, width, split.primaryRows), split.primaryRows.length);
  const [p, c] = await Promise.all([primary, canary]);
  return { primary: p, canary: c };
}

interface SinkRejection extends RowRejection {
  sink: string;
}

/**
 * One dead letter per rejected row (the first sink's reason when several rejected it), carrying
 * the row's source message and an error naming the sink and the key.
 */
function rejectedLetters(
  rejections: readonly SinkRejection[],
  rows: readonly PredictionRow[],
  recordAt: (index: number) => ChangeRecord,
): { message: RawMessage; error: PipelineError }[] {
  const seen = new Set<number>();
  const letters: { message: RawMessage; error: PipelineError }[] = [];
  for (const r of rejections) {
    if (seen.has(r.index)) continue;
    seen.add(r.index);
    const row = rows[r.index]!;
    const e = r.error;
    const error = new PipelineError(
      `${r.sink} rejected the prediction for key ${keyText(row.key)} (position ${row.position}): ${e.message}`,
      {
        code: e.code,
        stage: 'sink',
        retryable: false,
        ...(e.pipeline === undefined ? {} : { pipeline: e.pipeline }),
        position: String(row.position),
        context: { ...e.context, sink: r.sink },
        cause: e,
      },
    );
    letters.push({ message: rawMessageOf(recordAt(r.index)), error });
  }
  return letters;
}

function keyText(key: unknown): string {
  const text = typeof key === 'bigint' ? String(key) : JSON.stringify(key, bigintAsText);
  return text === undefined ? String(key) : text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
