import { PipelineError } from '../core/errors.js';

/**
 * Stable codes of the inference stage:
 * - MODEL_NOT_FOUND: the model file does not exist or cannot be read.
 * - MODEL_LOAD_FAILED: the file is not an ONNX model onnxruntime can load.
 * - MODEL_SIGNATURE_MISMATCH: the model's input does not match the pipeline's features.
 * - MODEL_OUTPUT_UNKNOWN: an output reference names an output (or class, or column) the model lacks.
 * - MODEL_OUTPUT_UNSUPPORTED: the referenced output is not a tensor onnxruntime-node can return.
 * - MODEL_OUTPUT_REF_INVALID: an output reference does not parse.
 * - MODEL_INPUT_INVALID: `predict` was called with a feature buffer of the wrong size.
 * - MODEL_RUN_FAILED: onnxruntime rejected the run, or returned outputs of an unexpected shape.
 * - MODEL_VERSION_UNKNOWN: the registry has no such model name or version.
 * - MODEL_SHA_MISMATCH: the file's sha256 differs from its manifest's (corrupted or replaced).
 * - MODEL_ALIAS_UNSET: a pipeline follows an alias that has never been set on the control topic.
 * - MODEL_EXTERNAL_DATA_REFUSED: a tensor keeps its data in a file outside the model's folder.
 */
export type ModelErrorCode =
  | 'MODEL_NOT_FOUND'
  | 'MODEL_LOAD_FAILED'
  | 'MODEL_SIGNATURE_MISMATCH'
  | 'MODEL_OUTPUT_UNKNOWN'
  | 'MODEL_OUTPUT_UNSUPPORTED'
  | 'MODEL_OUTPUT_REF_INVALID'
  | 'MODEL_INPUT_INVALID'
  | 'MODEL_RUN_FAILED'
  | 'MODEL_VERSION_UNKNOWN'
  | 'MODEL_SHA_MISMATCH'
  | 'MODEL_ALIAS_UNSET'
  | 'MODEL_EXTERNAL_DATA_REFUSED';

const BRAND = Symbol.for('streamscore.ModelError');

/**
 * A PipelineError of the `inference` stage whose message starts with `model <path>: `. It keeps the
 * name `PipelineError`, so `PipelineError.is` recognises it; `ModelError.is` also works across
 * duplicated module copies. None is retryable: a model that fails once fails again on the same input.
 */
export class ModelError extends PipelineError {
  override readonly code: ModelErrorCode;
  readonly modelPath: string;
  readonly [BRAND] = true;

  constructor(
    code: ModelErrorCode,
    modelPath: string,
    detail: string,
    options: { cause?: unknown; context?: Readonly<Record<string, unknown>> } = {},
  ) {
    super(`model ${modelPath}: ${detail}`, {
      code,
      stage: 'inference',
      retryable: false,
      context: { model: modelPath, ...options.context },
      cause: options.cause,
    });
    this.code = code;
    this.modelPath = modelPath;
  }

  static override is(err: unknown): err is ModelError {
    return typeof err === 'object' && err !== null && (err as { [BRAND]?: unknown })[BRAND] === true;
  }
}
