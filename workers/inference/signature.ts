import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelError } from './errors.js';
import type { ClassLabel, ZipMapRewrite } from './onnx-graph.js';
import type { OutputRef } from './output-ref.js';
import { type ResolvedOutput, resolveOutputs } from './outputs.js';
import type { LoadedSession } from './session.js';

/** A tensor input or output as onnxruntime-node describes it. Dynamic dims are strings ('' when unnamed). */
export interface TensorMeta {
  readonly name: string;
  readonly isTensor: true;
  readonly type: Tensor.Type;
  readonly shape: readonly (number | string)[];
  /** Set when the model file declares a ZipMap here, which streamscore reads as this tensor. */
  readonly zipMap?: ZipMapRewrite;
}

/** A sequence, map or optional value: onnxruntime-node cannot return these. */
export interface NonTensorMeta {
  readonly name: string;
  readonly isTensor: false;
}

export type ValueMeta = TensorMeta | NonTensorMeta;

export interface ModelSignature {
  readonly path: string;
  readonly version: string | undefined;
  /** sha256 of the model file as stored. */
  readonly sha256: string;
  /** e.g. `skl2onnx 1.20.0` */
  readonly producer: string;
  readonly inputs: readonly ValueMeta[];
  readonly outputs: readonly ValueMeta[];
  /** Class labels in probability-column order; null when the model is not a classifier. */
  readonly classes: readonly ClassLabel[] | null;
  /** What was changed at load time, e.g. `ZipMap 'output_probability' read as tensor(float) [N, 2]`. */
  readonly rewrites: readonly string[];
  /** The model's metadata_props. */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface ExpectedSignature {
  /** Number of features the pipeline produces per row. */
  readonly inputWidth: number;
  /** Names of those features, in order (for messages). */
  readonly featureNames?: readonly string[];
  /** The input to feed; defaults to the model's only input. */
  readonly inputName?: string;
  /** Prediction field → output reference (parsed, or text to parse). */
  readonly outputs: Readonly<Record<string, OutputRef | string>>;
}

export interface CheckedSignature {
  readonly input: TensorMeta;
  readonly outputs: readonly ResolvedOutput[];
}

function toMeta(m: InferenceSession.ValueMetadata, zipMaps: readonly ZipMapRewrite[] = []): ValueMeta {
  if (!m.isTensor) return { name: m.name, isTensor: false };
  const zipMap = zipMaps.find((z) => z.output === m.name);
  return { name: m.name, isTensor: true, type: m.type, shape: [...m.shape], ...(zipMap ? { zipMap } : {}) };
}

/** The signature of a loaded session, with what the model file itself declares. */
export function readSignature(loaded: LoadedSession): ModelSignature {
  return {
    path: loaded.path,
    version: loaded.version,
    sha256: loaded.sha256,
    producer: loaded.info.producer,
    inputs: loaded.session.inputMetadata.map((m) => toMeta(m)),
    outputs: loaded.session.outputMetadata.map((m) => toMeta(m, loaded.info.zipMaps)),
    classes: loaded.info.classes,
    rewrites: loaded.info.zipMaps.map(
      (z) => `ZipMap '${z.output}' read as tensor(float) [N, ${z.classes.length}] from '${z.input}'`,
    ),
    metadata: loaded.info.metadata,
  };
}

function dim(d: number | string): string {
  return typeof d === 'number' ? String(d) : d === '' ? '?' : d;
}

/** e.g. `features float32 [?, 8]`, or `output_probability (sequence/map)`. */
export function describeValue(m: ValueMeta): string {
  if (!m.isTensor) return `${m.name} (not a tensor: a sequence or map)`;
  return `${m.name} ${tensorType(m)}`;
}

function tensorType(m: TensorMeta): string {
  return `${m.type} [${m.shape.map(dim).join(', ')}]`;
}

/**
 * A value as the model file declares it: a ZipMap output is a sequence of maps (class → probability),
 * e.g. `output_probability seq(map(int64, float32)) of classes 0, 1 (a ZipMap: read as float32 [?, 2]
 * from 'proba_output')`; anything else as `describeValue`.
 */
export function describeDeclared(m: ValueMeta): string {
  if (!m.isTensor || m.zipMap === undefined) return describeValue(m);
  const { classes, input } = m.zipMap;
  const keyType = classes.every((c) => typeof c === 'string') ? 'string' : 'int64';
  const names = classes.map((c) => (typeof c === 'string' ? `'${c}'` : String(c))).join(', ');
  return `${m.name} seq(map(${keyType}, float32)) of classes ${names} (a ZipMap: read as ${tensorType(m)} from '${input}')`;
}

function featureList(names: readonly string[] | undefined): string {
  if (names === undefined || names.length === 0) return '';
  const shown = names.slice(0, 12).join(', ');
  return ` (${shown}${names.length > 12 ? `, … ${names.length - 12} more` : ''})`;
}

function mismatch(sig: ModelSignature, detail: string): ModelError {
  return new ModelError('MODEL_SIGNATURE_MISMATCH', sig.path, detail, {
    context: { inputs: sig.inputs.map(describeValue) },
  });
}

/** The one input streamscore feeds, checked against the pipeline's features. Throws ModelError. */
export function checkInput(sig: ModelSignature, expected: Omit<ExpectedSignature, 'outputs'>): TensorMeta {
  const all = sig.inputs.map(describeValue).join(', ');
  let input: ValueMeta | undefined;
  if (expected.inputName !== undefined) {
    input = sig.inputs.find((i) => i.name === expected.inputName);
    if (input === undefined)
      throw mismatch(sig, `has no input '${expected.inputName}'; its inputs are ${all}`);
  } else if (sig.inputs.length === 1) {
    input = sig.inputs[0];
  }
  if (input === undefined || sig.inputs.length !== 1) {
    throw mismatch(
      sig,
      `has ${sig.inputs.length} inputs (${all}), but streamscore feeds exactly one float32 [rows, features] matrix`,
    );
  }
  if (!input.isTensor || input.type !== 'float32') {
    throw mismatch(
      sig,
      `input ${describeValue(input)} is not float32; streamscore feeds a float32 [rows, features] matrix`,
    );
  }
  if (input.shape.length !== 0 && input.shape.length !== 2) {
    throw mismatch(
      sig,
      `input ${describeValue(input)} has rank ${input.shape.length}; expected [rows, features]`,
    );
  }
  const width = input.shape[1];
  if (typeof width === 'number' && width !== expected.inputWidth) {
    throw mismatch(
      sig,
      `input '${input.name}' has width ${width}, but the pipeline declares ${expected.inputWidth} feature${
        expected.inputWidth === 1 ? '' : 's'
      }${featureList(expected.featureNames)}`,
    );
  }
  return input;
}

/**
 * Check a model against what the pipeline declares, once, before any record flows: the input's
 * name, type and width, then every output reference (unknown names get a did-you-mean). Throws a
 * ModelError naming the model path; returns the resolved outputs `extractPredictions` uses.
 */
export function checkSignature(sig: ModelSignature, expected: ExpectedSignature): CheckedSignature {
  const input = checkInput(sig, expected);
  return { input, outputs: resolveOutputs(sig, expected.outputs) };
}
