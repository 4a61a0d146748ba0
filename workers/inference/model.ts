import { type InferenceSession, Tensor } from 'onnxruntime-node';
import { errorMessage } from '../core/errors.js';
import type { FieldType } from '../core/types.js';
import { ModelError } from './errors.js';
import type { OutputRef } from './output-ref.js';
import {
  defaultOutputRefs,
  emptyPredictions,
  extractPredictions,
  type Predictions,
  type ResolvedOutput,
} from './outputs.js';
import { type LoadedSession, ModelRegistry, type SessionOptions } from './session.js';
import { checkSignature, type ModelSignature, readSignature, type TensorMeta } from './signature.js';

export interface OnnxModelOptions {
  /** The process's registry; sessions are shared through it. Without one, the model owns a private session. */
  registry?: ModelRegistry;
  /** The version the pipeline declares (cache key, messages). */
  version?: string | number;
  session?: SessionOptions;
  /** Number of features per row; checked against the model's input width. Defaults to the model's width. */
  inputWidth?: number;
  /** Feature names in order, for messages. */
  featureNames?: readonly string[];
  /** Input to feed; defaults to the model's only input. */
  inputName?: string;
  /** The sha256 the file must have (its manifest's); a mismatch refuses to load (MODEL_SHA_MISMATCH). */
  expectedSha256?: string;
  /** Prediction field → output reference. Default: label + probability_<class> for classifiers, value for regressors. */
  outputs?: Readonly<Record<string, OutputRef | string>>;
}

/**
 * An ONNX model bound to a pipeline's features and output mapping. `load` checks everything once
 * (input width, every output reference); `predict` then runs one onnxruntime call per batch and
 * copies the mapped outputs into columns. onnxruntime-node 1.30 runs `session.run` synchronously on
 * the main thread (deferred with setImmediate only): keep micro-batches small enough not to stall the
 * event loop (GBT-100: ~1 ms per 512 rows here).
 */
export class OnnxModel {
  readonly signature: ModelSignature;
  readonly input: TensorMeta;
  readonly outputs: readonly ResolvedOutput[];
  /** Features per row. */
  readonly width: number;
  readonly #loaded: LoadedSession;
  readonly #registry: ModelRegistry;
  readonly #fetches: string[];
  readonly #loadOptions: OnnxModelOptions;
  #closed = false;

  private constructor(loaded: LoadedSession, registry: ModelRegistry, options: OnnxModelOptions) {
    this.#loaded = loaded;
    this.#registry = registry;
    this.#loadOptions = options;
    this.signature = readSignature(loaded);
    const declared = this.signature.inputs.length === 1 ? this.signature.inputs[0] : undefined;
    const modelWidth = declared?.isTensor === true ? declared.shape[1] : undefined;
    const inputWidth = options.inputWidth ?? (typeof modelWidth === 'number' ? modelWidth : undefined);
    if (inputWidth === undefined) {
      throw new ModelError(
        'MODEL_SIGNATURE_MISMATCH',
        loaded.path,
        'the input width is not fixed in the model; pass inputWidth (the number of features)',
      );
    }
    const checked = checkSignature(this.signature, {
      inputWidth,
      featureNames: options.featureNames,
      inputName: options.inputName,
      outputs: options.outputs ?? defaultOutputRefs(this.signature),
    });
    this.input = checked.input;
    this.outputs = checked.outputs;
    this.width = inputWidth;
    this.#fetches = [...new Set(checked.outputs.map((o) => o.output))];
  }

  /** Load (or share) the session and check it against the pipeline. Throws ModelError. */
  static async load(path: string, options: OnnxModelOptions = {}): Promise<OnnxModel> {
    const registry = options.registry ?? new ModelRegistry();
    const loaded = await registry.acquire(path, {
      version: options.version,
      session: options.session,
      ...(options.expectedSha256 === undefined ? {} : { expectedSha256: options.expectedSha256 }),
    });
    try {
      return new OnnxModel(loaded, registry, options);
    } catch (err) {
      await registry.release(loaded, { version: options.version, session: options.session });
      throw err;
    }
  }

  get path(): string {
    return this.signature.path;
  }

  /** sha256 of the ONNX file as loaded. */
  get sha256(): string {
    return this.#loaded.sha256;
  }

  /** Prediction fields, in the order the pipeline declared them. */
  get outputFields(): readonly string[] {
    return this.outputs.map((o) => o.field);
  }

  /** Each prediction field with its value type, for sink DDL and Avro schemas. */
  get fieldTypes(): { name: string; type: FieldType }[] {
    return this.outputs.map((o) => ({ name: o.field, type: fieldType(o.type) }));
  }

  /**
   * Score `rows` rows of `width` float32 features laid out row by row in `features` (extra capacity
   * past rows × width is ignored). One session.run for the whole batch. Throws ModelError.
   */
  async predict(features: Float32Array, rows: number, width: number): Promise<Predictions> {
    if (this.#closed) throw new ModelError('MODEL_RUN_FAILED', this.path, 'predict after close');
    if (width !== this.width || !Number.isInteger(rows) || rows < 0 || features.length < rows * width) {
      throw new ModelError(
        'MODEL_INPUT_INVALID',
        this.path,
        `predict got ${rows} rows × ${width} features in a buffer of ${features.length}; the model takes ${this.width} features per row`,
      );
    }
    if (rows === 0) return emptyPredictions(this.outputs);
    const data = features.length === rows * width ? features : features.subarray(0, rows * width);
    const feeds = { [this.input.name]: new Tensor('float32', data, [rows, width]) };
    let results: InferenceSession.ReturnType;
    try {
      results = await this.#loaded.session.run(feeds, this.#fetches);
    } catch (err) {
      throw new ModelError('MODEL_RUN_FAILED', this.path, `onnxruntime run failed: ${errorMessage(err)}`, {
        cause: err,
        context: { rows },
      });
    }
    return extractPredictions(this.path, this.outputs, results as Record<string, Tensor>, rows);
  }

  /** Give the session back to the registry (released when no other model uses it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#registry.release(this.#loaded, {
      version: this.#loadOptions.version,
      session: this.#loadOptions.session,
    });
  }
}

function fieldType(t: Tensor.Type): FieldType {
  if (t === 'float32' || t === 'float64' || t === 'float16') return 'float';
  if (t === 'string') return 'string';
  return 'int'; // integers, and bool outputs (read as 0/1)
}
