import { type BatchSlice, type ChunkSlice, type Clock, MicroBatcher } from './batcher.js';
import { concatPredictions, type PredictionColumn, type Predictions, slicePredictions } from './outputs.js';

/** What the batcher needs of a model (OnnxModel, or a stand-in in tests). */
export interface ScoringModel {
  /** Features per row. */
  readonly width: number;
  /** Prediction fields, in the pipeline's order. */
  readonly outputFields: readonly string[];
  predict(features: Float32Array, rows: number, width: number): Promise<Predictions>;
}

export interface ModelBatcherOptions {
  maxSize: number;
  maxWaitMs: number;
  clock?: Clock;
  /** Inference calls in flight at once (default `MODEL_RUNS_IN_FLIGHT`). */
  maxInFlight?: number;
  /** Called after each inference call with its rows and run time (ms), e.g. for metrics. */
  onBatch?: (rows: number, ms: number) => void;
}

/**
 * Inference calls a model's batcher starts without waiting for the previous one. onnxruntime-node
 * runs a session synchronously in a `setImmediate` callback: calls started together run back to
 * back in one turn of the event loop, where one at a time each waits for a turn of its own, behind
 * whatever I/O that turn handles (fetch responses to decode, sink replies). Under load that wait,
 * not the run, was the inference stage's latency (64-row runs of 0.07 ms, spans of 13 ms at p50).
 */
export const MODEL_RUNS_IN_FLIGHT = 4;

/**
 * Micro-batches feature rows for one model: `add(features, rows)` resolves with the predictions of
 * exactly those rows, in order, after the batch (or batches) they joined have run. Rows from several
 * callers are copied into one buffer per batch; a batch made of a single caller's whole chunk is
 * passed through without a copy. It satisfies the runtime's `Predictor` (outputFields + predict).
 */
export class ModelBatcher {
  readonly #batcher: MicroBatcher<Float32Array, Predictions>;

  constructor(
    readonly model: ScoringModel,
    options: ModelBatcherOptions,
  ) {
    const width = model.width;
    const onBatch = options.onBatch;
    this.#batcher = new MicroBatcher<Float32Array, Predictions>({
      maxInFlight: MODEL_RUNS_IN_FLIGHT,
      ...options,
      run: onBatch
        ? async (slices, rows) => {
            const started = performance.now();
            const out = await model.predict(gather(slices, rows, width), rows, width);
            onBatch(rows, performance.now() - started);
            return out;
          }
        : (slices, rows) => model.predict(gather(slices, rows, width), rows, width),
    });
  }

  get outputFields(): readonly string[] {
    return this.model.outputFields;
  }

  get pendingRows(): number {
    return this.#batcher.pendingRows;
  }

  /** `features` holds `rows` rows of `model.width` float32 values, row by row. */
  async add(features: Float32Array, rows: number): Promise<Predictions> {
    if (features.length < rows * this.model.width) {
      throw new RangeError(
        `add got ${features.length} values for ${rows} rows of ${this.model.width} features`,
      );
    }
    const parts = await this.#batcher.add(features, rows);
    return join(parts);
  }

  /** The runtime's Predictor contract: the columns of `add`. */
  async predict(features: Float32Array, rows: number): Promise<Record<string, PredictionColumn>> {
    return (await this.add(features, rows)).columns;
  }

  flush(): Promise<void> {
    return this.#batcher.flush();
  }

  close(): Promise<void> {
    return this.#batcher.close();
  }
}

function gather(slices: readonly ChunkSlice<Float32Array>[], rows: number, width: number): Float32Array {
  const only = slices.length === 1 ? slices[0] : undefined;
  if (only !== undefined) return only.chunk.subarray(only.start * width, (only.start + only.count) * width);
  const out = new Float32Array(rows * width);
  let at = 0;
  for (const s of slices) {
    out.set(s.chunk.subarray(s.start * width, (s.start + s.count) * width), at);
    at += s.count * width;
  }
  return out;
}

function join(parts: readonly BatchSlice<Predictions>[]): Predictions {
  const slices = parts.map((p) => slicePredictions(p.result, p.offset, p.count));
  return concatPredictions(slices);
}
