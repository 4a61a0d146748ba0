/**
 * The inference stage: ONNX sessions (shared per process through a ModelRegistry), signature checks,
 * output references, micro-batching. See tools/models/README.md for how ZipMap outputs are read.
 */
export {
  BatcherClosedError,
  type BatchSlice,
  type ChunkSlice,
  type Clock,
  MicroBatcher,
  type MicroBatcherOptions,
  systemClock,
} from './batcher.js';
export { ModelError, type ModelErrorCode } from './errors.js';
export { OnnxModel, type OnnxModelOptions } from './model.js';
export { ModelBatcher, type ModelBatcherOptions, type ScoringModel } from './model-batcher.js';
export { type ClassLabel, type OnnxModelInfo, prepareModel, type ZipMapRewrite } from './onnx-graph.js';
export {
  type ColumnSelector,
  formatOutputRef,
  type OutputRef,
  type ParsedOutputRef,
  parseOutputRef,
} from './output-ref.js';
export {
  concatPredictions,
  defaultOutputRefs,
  emptyPredictions,
  extractPredictions,
  type PredictionColumn,
  type Predictions,
  type ResolvedOutput,
  resolveOutputs,
  slicePredictions,
} from './outputs.js';
export {
  type LoadedSession,
  type LoadOptions,
  ModelRegistry,
  type ModelRegistryOptions,
  type SessionOptions,
} from './session.js';
export {
  type CheckedSignature,
  checkInput,
  checkSignature,
  describeDeclared,
  describeValue,
  type ExpectedSignature,
  type ModelSignature,
  type NonTensorMeta,
  readSignature,
  type TensorMeta,
  type ValueMeta,
} from './signature.js';
