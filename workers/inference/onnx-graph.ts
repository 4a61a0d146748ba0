/**
 * Load-time inspection and the one rewrite streamscore applies to ONNX models: ZipMap removal.
 *
 * Why: classifiers exported by skl2onnx with default options end in an `ai.onnx.ml.ZipMap` node whose
 * output `output_probability` has type seq(map(int64|string, float)). onnxruntime-node (checked on
 * 1.30) creates the session but reports that output as `{ isTensor: false }` and fails every `run`
 * that fetches it with "Non tensor type is temporarily not supported."; the pre-ZipMap tensor
 * (`proba_output`) is not a graph output, and fetching it is refused ("'fetches' contains invalid
 * output name"). So before creating the session, each ZipMap whose output is a graph output and
 * feeds nothing else is replaced by `Identity(input) -> same output name`, and that output is
 * re-declared as tensor(float) [N, classes]. ZipMap only copies the floats into maps, so the values
 * are identical; the class labels, in column order, are kept from the ZipMap's attributes. Nothing
 * is written to disk and the file's sha256 is of the original bytes.
 */
import {
  bytesField,
  concatBytes,
  firstString,
  message,
  readFields,
  repeatedInt64,
  repeatedString,
  varintField,
  WIRE_BYTES,
  WIRE_VARINT,
  type WireField,
} from './proto-wire.js';

/** A class label as the model declares it: int64 labels become numbers when they are safe integers. */
export type ClassLabel = string | number | bigint;

export interface ZipMapRewrite {
  /** The graph output that was a ZipMap, now a float tensor [N, classes.length]. */
  readonly output: string;
  /** The ZipMap's input (the classifier's probability tensor). */
  readonly input: string;
  readonly classes: readonly ClassLabel[];
}

export interface OnnxModelInfo {
  readonly irVersion: number;
  /** e.g. `skl2onnx 1.20.0` */
  readonly producer: string;
  /** Operator set per domain; the default domain is ''. */
  readonly opsets: Readonly<Record<string, number>>;
  /** The model's metadata_props. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Class labels in probability-column order, from the ZipMap or the classifier node; null for regressors. */
  readonly classes: readonly ClassLabel[] | null;
  /** ZipMap outputs that were rewritten into tensors. */
  readonly zipMaps: readonly ZipMapRewrite[];
  /** ZipMap outputs left as they are because another node consumes them. */
  readonly zipMapsKept: readonly string[];
}

export interface PreparedModel {
  /** The bytes to hand to onnxruntime (the input itself when nothing was rewritten). */
  readonly bytes: Uint8Array;
  readonly info: OnnxModelInfo;
}

// Field numbers from onnx.proto.
const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, graph: 7, opsetImport: 8, metadata: 14 };
const GRAPH = { node: 1, output: 12 };
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 };
const ATTR = { name: 1, ints: 8, strings: 9 };
const ML_DOMAIN = 'ai.onnx.ml';
const FLOAT = 1; // TensorProto.DataType.FLOAT

/** Classifier nodes of ai.onnx.ml and the attributes that list their classes in output order. */
const CLASSIFIER_LABEL_ATTRS = ['classlabels_int64s', 'classlabels_ints', 'classlabels_strings'];

interface NodeView {
  readonly field: WireField;
  readonly opType: string;
  readonly domain: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: ReadonlyMap<string, { ints: bigint[]; strings: string[] }>;
}

function readNode(buf: Uint8Array, field: WireField): NodeView {
  const fs = readFields(buf, field.value, field.end);
  const attrs = new Map<string, { ints: bigint[]; strings: string[] }>();
  for (const a of fs) {
    if (a.no !== NODE.attribute || a.wire !== WIRE_BYTES) continue;
    const afs = readFields(buf, a.value, a.end);
    attrs.set(firstString(buf, afs, ATTR.name), {
      ints: repeatedInt64(buf, afs, ATTR.ints),
      strings: repeatedString(buf, afs, ATTR.strings),
    });
  }
  return {
    field,
    opType: firstString(buf, fs, NODE.opType),
    domain: firstString(buf, fs, NODE.domain),
    name: firstString(buf, fs, NODE.name),
    inputs: repeatedString(buf, fs, NODE.input),
    outputs: repeatedString(buf, fs, NODE.output),
    attrs,
  };
}

function toLabel(v: bigint): ClassLabel {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function classLabels(node: NodeView): ClassLabel[] | null {
  for (const attr of CLASSIFIER_LABEL_ATTRS) {
    const a = node.attrs.get(attr);
    if (a === undefined) continue;
    if (a.strings.length > 0) return a.strings;
    if (a.ints.length > 0) return a.ints.map(toLabel);
  }
  return null;
}

/** Identity(input) -> output, in the default domain. */
function identityNode(name: string, input: string, output: string): Uint8Array {
  return message(
    bytesField(NODE.input, input),
    bytesField(NODE.output, output),
    bytesField(NODE.name, name),
    bytesField(NODE.opType, 'Identity'),
  );
}

/** ValueInfoProto: name, tensor(float) with shape [?, width]. */
function floatMatrixValueInfo(name: string, width: number): Uint8Array {
  const unknownDim = new Uint8Array(0);
  const shape = message(bytesField(1, unknownDim), bytesField(1, varintField(1, width)));
  const tensorType = message(varintField(1, FLOAT), bytesField(2, shape));
  return message(bytesField(1, name), bytesField(2, bytesField(1, tensorType)));
}

/**
 * Inspect an ONNX model and, when it ends in ZipMap outputs, rewrite them into float tensors.
 * Throws ProtoError when the bytes are not a protobuf message.
 */
export function prepareModel(bytes: Uint8Array): PreparedModel {
  const top = readFields(bytes);
  const opsets: Record<string, number> = {};
  const metadata: Record<string, string> = {};
  let graphField: WireField | undefined;
  let irVersion = 0;
  for (const f of top) {
    if (f.no === MODEL.irVersion && f.wire === WIRE_VARINT) irVersion = Number(f.varint);
    else if (f.no === MODEL.graph && f.wire === WIRE_BYTES) graphField = f;
    else if (f.no === MODEL.opsetImport && f.wire === WIRE_BYTES) {
      const o = readFields(bytes, f.value, f.end);
      const version = o.find((x) => x.no === 2 && x.wire === WIRE_VARINT)?.varint ?? 0n;
      opsets[firstString(bytes, o, 1)] = Number(version);
    } else if (f.no === MODEL.metadata && f.wire === WIRE_BYTES) {
      const kv = readFields(bytes, f.value, f.end);
      metadata[firstString(bytes, kv, 1)] = firstString(bytes, kv, 2);
    }
  }
  const producer =
    `${firstString(bytes, top, MODEL.producerName)} ${firstString(bytes, top, MODEL.producerVersion)}`.trim();
  const base = { irVersion, producer, opsets, metadata };
  if (graphField === undefined)
    return { bytes, info: { ...base, classes: null, zipMaps: [], zipMapsKept: [] } };

  const graphFields = readFields(bytes, graphField.value, graphField.end);
  const nodes = graphFields
    .filter((f) => f.no === GRAPH.node && f.wire === WIRE_BYTES)
    .map((f) => readNode(bytes, f));
  const graphOutputs = new Map<string, WireField>();
  for (const f of graphFields) {
    if (f.no !== GRAPH.output || f.wire !== WIRE_BYTES) continue;
    graphOutputs.set(firstString(bytes, readFields(bytes, f.value, f.end), 1), f);
  }
  const consumed = new Set(nodes.flatMap((n) => n.inputs));

  const replacedNodes = new Map<WireField, Uint8Array>();
  const replacedOutputs = new Map<WireField, Uint8Array>();
  const zipMaps: ZipMapRewrite[] = [];
  const zipMapsKept: string[] = [];
  let classes: ClassLabel[] | null = null;
  for (const node of nodes) {
    if (node.domain === ML_DOMAIN && node.opType !== 'ZipMap') classes ??= classLabels(node);
    if (node.domain !== ML_DOMAIN || node.opType !== 'ZipMap') continue;
    const input = node.inputs[0];
    const output = node.outputs[0];
    const labels = classLabels(node);
    const outField = output === undefined ? undefined : graphOutputs.get(output);
    if (input === undefined || output === undefined || labels === null) continue;
    if (outField === undefined || consumed.has(output)) {
      zipMapsKept.push(output);
      continue;
    }
    replacedNodes.set(node.field, identityNode(`${node.name || 'ZipMap'}_as_identity`, input, output));
    replacedOutputs.set(outField, floatMatrixValueInfo(output, labels.length));
    zipMaps.push({ output, input, classes: labels });
    classes = labels;
  }
  const info: OnnxModelInfo = { ...base, classes, zipMaps, zipMapsKept };
  if (zipMaps.length === 0) return { bytes, info };

  const graphParts = graphFields.map((f) => {
    const node = replacedNodes.get(f);
    if (node !== undefined) return bytesField(GRAPH.node, node);
    const out = replacedOutputs.get(f);
    if (out !== undefined) return bytesField(GRAPH.output, out);
    return bytes.subarray(f.start, f.end);
  });
  const modelParts = top.map((f) =>
    f === graphField ? bytesField(MODEL.graph, concatBytes(graphParts)) : bytes.subarray(f.start, f.end),
  );
  // Identity lives in the default domain; skl2onnx always imports it, other producers may not.
  if (opsets[''] === undefined && opsets['ai.onnx'] === undefined) {
    modelParts.push(bytesField(MODEL.opsetImport, message(bytesField(1, ''), varintField(2, 13))));
  }
  return { bytes: concatBytes(modelParts), info };
}

/** For tests and diagnostics: the op types of the top-level graph, in order. */
export function graphOpTypes(bytes: Uint8Array): string[] {
  const graph = readFields(bytes).find((f) => f.no === MODEL.graph && f.wire === WIRE_BYTES);
  if (graph === undefined) return [];
  return readFields(bytes, graph.value, graph.end)
    .filter((f) => f.no === GRAPH.node && f.wire === WIRE_BYTES)
    .map((f) => firstString(bytes, readFields(bytes, f.value, f.end), NODE.opType));
}
