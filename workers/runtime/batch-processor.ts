import { PipelineError } from '../core/errors.js';
import { bigintAsText } from '../core/int64.js';
import { rawMessageOf } from '../core/raw-message.js';
import type {
  ChangeRecord,
  DecodedBatch,
  Decoder,
  PredictionBatch,
  PredictionRow,
  RawMessage,
  Sink,
} from '../core/types.js';
import type { DriftMonitor } from '../drift/monitor.js';
import type { FeatureMapper } from '../features/mapper.js';
import type { Metrics } from '../observability/metrics.js';
import type { BatchTrace } from '../observability/tracing.js';
import type { ModelLease, ModelSource, ShadowScorer } from '../scoring/lease.js';
import { scoreMapped } from '../scoring/score.js';
import { type RetryPolicy, withRetry } from './retry.js';
import { type RowRejection, writeIsolatingRows } from './row-isolation.js';

export type {
  LeasedModel,
  ModelLease,
  ModelSource,
  Predictor,
  ShadowJob,
  ShadowScorer,
} from '../scoring/lease.js';
export { fixedModel } from '../scoring/lease.js';

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
  /** The sinks backfilled chunks are written to (those with `backfill` not false); default `sinks`. */
  backfillSinks?: readonly Sink[] | undefined;
  deadLetters: DeadLetters | undefined;
  retry: RetryPolicy;
  metrics: Metrics;
  now?: () => Date;
  /** Streaming drift (monitoring.drift): sees each batch's features and outputs after scoring. */
  drift?: DriftMonitor | undefined;
  /** `unavailable_value: lookup`: fills unchanged TOASTed columns from the source table (retried). */
  unavailable?: ((batch: DecodedBatch) => Promise<unknown>) | undefined;
}

export interface BatchResult {
  scored: number;
  deleted: number;
  deadLettered: number;
  skipped: number;
}

/** Longest wait between two attempts to decode a batch while the schema registry is away. */
const DECODE_MAX_BACKOFF_MS = 5000;

/**
 * One fetch's messages through decode → features → inference → every sink in parallel.
 * Resolves only when every sink has durably written every row and every failure is dead-lettered,
 * so the caller may then commit the offsets. Transient sink errors are retried while `onWait`
 * keeps the consumer alive; terminal errors reject (the caller must not commit). With a dead-letter
 * topic, rows a sink rejects for their values are isolated and dead-lettered (see row-isolation.ts).
 */
export class BatchProcessor {
  readonly fields: readonly string[];
  /**
   * Batches `process` decoded itself from Kafka messages: their records are this batch's alone, so
   * their decoded envelopes (`root`) are let go once the features are computed (see `#score`).
   */
  readonly #ownRecords = new WeakSet<DecodedBatch>();
  /** Aborted when the worker stops: a batch waiting for the schema registry gives up. */
  readonly #stopping = new AbortController();
  /** Batches retrying their decoding until the schema registry answers. */
  #waitingForRegistry = 0;
  constructor(private readonly deps: BatchProcessorDeps) {
    this.fields = [...deps.models.outputFields, ...deps.mapper.names.map((n) => `feature.${n}`)];
  }

  /**
   * Whether a batch is waiting for the schema registry: its partitions hold on purpose, which the
   * stall watchdog does not count as a stall (restarting the consumer would not bring the registry).
   */
  get waitingForRegistry(): boolean {
    return this.#waitingForRegistry > 0;
  }

  /**
   * The worker is stopping: batches waiting for an unreachable schema registry give up
   * (BATCH_ABANDONED, never committed) rather than hold the drain.
   */
  abandonWaiting(): void {
    this.#stopping.abort();
  }

  /** `trace`: the batch's spans when tracing is on (the caller ends its batch span). */
  async process(
    messages: readonly RawMessage[],
    onWait?: () => Promise<void>,
    trace?: BatchTrace,
  ): Promise<BatchResult> {
    const span = trace?.stage('decode');
    const decoded = await this.#decode(messages, onWait);
    const fill = this.deps.unavailable;
    if (fill !== undefined) await withRetry(() => fill(decoded), this.deps.retry, { onWait });
    span?.end();
    this.#ownRecords.add(decoded);
    return this.processDecoded(decoded, messages.length, onWait, trace);
  }

  /**
   * Decodes a fetch's messages. The registry unreachable (a retryable DECODE_REGISTRY): nothing of
   * the batch can be decoded and nothing later either, so the batch waits for it, the consumer kept
   * alive, without limit (an outage of the registry is like one of the broker: exiting would only
   * crash-loop the fleet) — unless the worker stops: then the batch is left uncommitted (re-read
   * after the restart), which the source does not count as a failure.
   */
  async #decode(messages: readonly RawMessage[], onWait?: () => Promise<void>): Promise<DecodedBatch> {
    const unreachable = (err: unknown) => PipelineError.is(err) && err.code === 'DECODE_REGISTRY';
    let waiting = false;
    try {
      return await withRetry(
        () => this.deps.decoder.decodeBatch(messages),
        { ...this.deps.retry, maxRetries: Number.POSITIVE_INFINITY, maxBackoffMs: DECODE_MAX_BACKOFF_MS },
        {
          onWait,
          onRetry: (err, attempt, delay) => {
            if (!waiting) this.#waitingForRegistry++;
            waiting = true;
            this.deps.metrics.decodeRetry(err, attempt, delay);
          },
          retryIf: unreachable,
        },
        this.#stopping.signal,
      );
    } catch (err) {
      if (!this.#stopping.signal.aborted || !unreachable(err)) throw err;
      throw new PipelineError(
        'the schema registry is unreachable and the worker is stopping: batch left uncommitted',
        {
          code: 'BATCH_ABANDONED',
          stage: 'decode',
          retryable: true,
          cause: err,
        },
      );
    } finally {
      if (waiting) this.#waitingForRegistry--;
    }
  }

  /**
   * The shared path of streaming and backfill: features → inference → sinks (+ dead letters).
   * Backfills build their ChangeRecords from table rows and enter here, so both modes run the
   * very same features, model and sinks.
   */
  processDecoded(
    decoded: DecodedBatch,
    received: number,
    onWait?: () => Promise<void>,
    trace?: BatchTrace,
  ): Promise<BatchResult> {
    return this.#process(this.deps.sinks, true, decoded, received, onWait, trace);
  }

  /**
   * The scoring path of backfill chunks: `processDecoded` writing only to the sinks whose
   * `backfill` flag is not false, and leaving the end-to-end latency histogram to the stream (a
   * backfilled row's source time is its read's snapshot, not a commit the row waited behind).
   */
  readonly backfill = {
    processDecoded: (
      decoded: DecodedBatch,
      received: number,
      onWait?: () => Promise<void>,
    ): Promise<BatchResult> =>
      this.#process(this.deps.backfillSinks ?? this.deps.sinks, false, decoded, received, onWait, undefined),
  };

  async #process(
    sinks: readonly Sink[],
    latency: boolean,
    decoded: DecodedBatch,
    received: number,
    onWait: (() => Promise<void>) | undefined,
    trace: BatchTrace | undefined,
  ): Promise<BatchResult> {
    const d = this.deps;
    // A suspended pipeline waits here, before anything is scored or written (offsets stay put).
    await d.models.waitOpen?.(onWait);
    const lease = d.models.lease();
    let shadowHandedOff = false;
    try {
      return await this.#score(
        sinks,
        latency,
        decoded,
        received,
        lease,
        onWait,
        () => {
          shadowHandedOff = true;
        },
        trace,
      );
    } finally {
      lease.primary.release();
      lease.canary?.release();
      if (!shadowHandedOff) lease.shadow?.release();
    }
  }

  async #score(
    sinks: readonly Sink[],
    latency: boolean,
    decoded: DecodedBatch,
    received: number,
    lease: ModelLease,
    onWait: (() => Promise<void>) | undefined,
    handOffShadow: () => void,
    trace: BatchTrace | undefined,
  ): Promise<BatchResult> {
    const d = this.deps;
    let span = trace?.stage('features');
    const mapped = d.mapper.map(decoded.records);
    span?.end();
    // Nothing after the features reads a record's envelope (rows keep its key, op, position and
    // origin): let it go now, in the turn it was decoded in, rather than keep it until every sink
    // has written. Most envelopes then die young instead of being promoted to the old generation,
    // which is most of a worker's heap while batches are in flight.
    if (this.#ownRecords.has(decoded)) for (const r of decoded.records) r.root = RELEASED_ROOT;
    const failures = [
      ...decoded.failures,
      ...mapped.failures.map((f) => ({ message: rawMessageOf(f.record), error: f.error })),
    ];
    const scoredAt = (d.now ?? (() => new Date()))();
    const n = mapped.scored.length;
    span = trace?.stage('inference', { 'streamscore.model.version': lease.primary.info.version, rows: n });
    const { rows, shadowJob, inferenceMs } = await scoreMapped(mapped, {
      lease,
      outputFields: d.models.outputFields,
      featureCount: d.mapper.names.length,
      scoredAt,
      shadow: d.shadow !== undefined,
    });
    span?.end();
    if (n > 0) {
      d.metrics.inferenceMs.record(inferenceMs);
      d.metrics.batchSize.record(n);
    }
    // The shadow is scored and compared off the primary's path: it never delays or fails a write.
    if (shadowJob) {
      handOffShadow();
      d.shadow!.submit(shadowJob);
    }
    d.drift?.observe(mapped.features, n, mapped.width, rows, lease.primary.info, mapped.nullMask);

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
      for (const sink of sinks) {
        const write = (b: PredictionBatch) =>
          withRetry(() => sink.write(b), d.retry, {
            onWait,
            onRetry: (err, attempt, delay) => d.metrics.sinkRetry(sink.name, err, attempt, delay),
          });
        // With a dead-letter topic, rows a sink rejects for their values go there, and the rest
        // are written; without one, the error stops the worker (nothing is dropped silently).
        const written = d.deadLetters
          ? writeIsolatingRows(batch, write).then((rejected) => {
              for (const r of rejected) rejections.push({ ...r, sink: sink.name });
            })
          : write(batch);
        writes.push(
          trace ? traced(trace.stage(`sink ${sink.name}`, { rows: rows.length }), written) : written,
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
      const written = withRetry(() => dlq.write(failures), d.retry, { onWait });
      writes.push(trace ? traced(trace.stage('dead letters', { rows: failures.length }), written) : written);
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
    if (latency) {
      const now = Date.now();
      for (const r of rows) d.metrics.endToEndMs.record(now - r.sourceTsMs);
    }
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

/** What a record's `root` becomes once its features are computed (process() only). */
const RELEASED_ROOT: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/** Ends `span` when `work` settles (with its error), passing the outcome on. */
function traced<T>(span: { end(error?: unknown): void }, work: Promise<T>): Promise<T> {
  return work.then(
    (v) => {
      span.end();
      return v;
    },
    (err: unknown) => {
      span.end(err);
      throw err;
    },
  );
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
