import type { Tensor } from 'onnxruntime-node';
import { suggestion } from '../core/suggest.js';
import { ModelError } from './errors.js';
import type { ClassLabel } from './onnx-graph.js';
import { type ColumnSelector, formatOutputRef, type OutputRef, parseOutputRef } from './output-ref.js';
import { describeValue, type ModelSignature, type TensorMeta, type ValueMeta } from './signature.js';

export type { ColumnSelector, OutputRef };
export { formatOutputRef, parseOutputRef };

/**
 * One prediction field per column, one row per record of the batch, in batch order.
 * float32 outputs stay Float32Array (the model's exact values), float64 become Float64Array,
 * string labels string[], and int64 labels number[] — a value outside ±2^53 stays a bigint, decided
 * per value so a label never depends on what else was in its batch.
 */
export type PredictionColumn = Float64Array | Float32Array | (string | number | bigint)[];

export interface Predictions {
  readonly size: number;
  readonly columns: Record<string, PredictionColumn>;
}

/** A prediction field bound to one model output and column. */
export interface ResolvedOutput {
  readonly field: string;
  readonly ref: OutputRef;
  /** The ONNX output to fetch. */
  readonly output: string;
  /** Element type of that output. */
  readonly type: Tensor.Type;
  /** Column of an [N, C] output; null for an [N] or [N, 1] output. */
  readonly column: number | null;
  /** For messages, e.g. `output_probability[:, 1] (class 1)`. */
  readonly description: string;
}

const LABEL_NAMES = ['output_label', 'label'];
const PROBABILITY_NAMES = ['output_probability', 'probabilities', 'probability'];
const VALUE_NAMES = ['variable', 'value', 'predictions', 'output'];
const FLOAT_TYPES = new Set<Tensor.Type>(['float32', 'float64']);
const LABEL_TYPES = new Set<Tensor.Type>(['int64', 'int32', 'string']);
const READABLE_TYPES = new Set<Tensor.Type>([
  'float32',
  'float64',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
  'string',
]);

function unknown(sig: ModelSignature, field: string, detail: string): ModelError {
  return new ModelError('MODEL_OUTPUT_UNKNOWN', sig.path, `output of field '${field}': ${detail}`, {
    context: { field, outputs: sig.outputs.map(describeValue) },
  });
}

function outputList(sig: ModelSignature): string {
  return sig.outputs.map(describeValue).join(', ') || '(none)';
}

function byName(sig: ModelSignature, names: readonly string[]): ValueMeta | undefined {
  for (const n of names) {
    const found = sig.outputs.find((o) => o.name === n);
    if (found !== undefined) return found;
  }
  return undefined;
}

function tensors(sig: ModelSignature): TensorMeta[] {
  return sig.outputs.filter((o): o is TensorMeta => o.isTensor);
}

function width(m: TensorMeta): number | undefined {
  if (m.shape.length < 2) return m.shape.length === 1 ? 1 : undefined;
  const w = m.shape[1];
  return typeof w === 'number' ? w : undefined;
}

function findLabel(sig: ModelSignature): ValueMeta | undefined {
  const named = byName(sig, LABEL_NAMES);
  if (named !== undefined || sig.classes === null) return named;
  return tensors(sig).find((t) => LABEL_TYPES.has(t.type) && (width(t) ?? 1) === 1);
}

function findProbabilities(sig: ModelSignature): ValueMeta | undefined {
  const named = byName(sig, PROBABILITY_NAMES);
  if (named !== undefined || sig.classes === null) return named;
  return tensors(sig).find((t) => FLOAT_TYPES.has(t.type) && t.shape.length === 2);
}

function findValue(sig: ModelSignature): ValueMeta | undefined {
  const named = byName(sig, VALUE_NAMES);
  // A classifier's only float output is its probability matrix, not a regression value.
  if (named !== undefined || sig.classes !== null) return named;
  const floats = tensors(sig).filter((t) => FLOAT_TYPES.has(t.type));
  return floats.length === 1 ? floats[0] : undefined;
}

function classText(c: ClassLabel): string {
  return typeof c === 'string' ? c : String(c);
}

/** A readable tensor, or the reason it is not. */
function requireTensor(sig: ModelSignature, field: string, meta: ValueMeta): TensorMeta {
  if (!meta.isTensor) {
    throw new ModelError(
      'MODEL_OUTPUT_UNSUPPORTED',
      sig.path,
      `output of field '${field}': '${meta.name}' is a sequence or map, which onnxruntime-node cannot return; ` +
        "export the classifier with skl2onnx option {'zipmap': False}, or make the ZipMap feed only the graph output " +
        'so streamscore can read it as a tensor',
      { context: { field } },
    );
  }
  if (!READABLE_TYPES.has(meta.type)) {
    throw new ModelError(
      'MODEL_OUTPUT_UNSUPPORTED',
      sig.path,
      `output of field '${field}': '${meta.name}' is ${meta.type}; streamscore reads float, integer, bool and string outputs`,
      { context: { field } },
    );
  }
  return meta;
}

function selectColumn(
  sig: ModelSignature,
  field: string,
  meta: TensorMeta,
  select: ColumnSelector | undefined,
  classes: readonly ClassLabel[] | null,
): number | null {
  const w = width(meta) ?? classes?.length;
  if (select === undefined) {
    if (w !== undefined && w > 1) {
      throw unknown(
        sig,
        field,
        `'${meta.name}' has ${w} columns; pick one with ${meta.name}[0] … ${meta.name}[${w - 1}]`,
      );
    }
    return meta.shape.length === 2 ? 0 : null;
  }
  if (meta.shape.length === 1)
    throw unknown(sig, field, `'${describeValue(meta)}' has one value per row; drop the [...]`);
  if (select.by === 'index') {
    if (w !== undefined && select.index >= w) {
      const named = classes === null ? '' : ` (classes ${classes.map(classText).join(', ')})`;
      throw unknown(
        sig,
        field,
        `column ${select.index} is out of range: '${meta.name}' has ${w} columns${named}`,
      );
    }
    return select.index;
  }
  if (classes === null) {
    throw unknown(
      sig,
      field,
      `class '${select.label}' given, but the model declares no class labels; use a column index`,
    );
  }
  const names = classes.map(classText);
  const i = names.indexOf(select.label);
  if (i < 0) {
    throw unknown(
      sig,
      field,
      `no class '${select.label}'; classes are ${names.join(', ')}${suggestion(select.label, names)}`,
    );
  }
  return i;
}

function describe(meta: TensorMeta, column: number | null, classes: readonly ClassLabel[] | null): string {
  if (column === null) return meta.name;
  const cls = classes?.[column];
  return `${meta.name}[:, ${column}]${cls === undefined ? '' : ` (class ${classText(cls)})`}`;
}

function resolveOne(sig: ModelSignature, field: string, ref: OutputRef): ResolvedOutput {
  let meta: ValueMeta | undefined;
  let select: ColumnSelector | undefined;
  switch (ref.kind) {
    case 'label':
      meta = findLabel(sig);
      if (meta === undefined) {
        const hint = findValue(sig) === undefined ? '' : " (it looks like a regressor: use 'value')";
        throw unknown(sig, field, `the model has no label output${hint}; its outputs are ${outputList(sig)}`);
      }
      break;
    case 'probability':
      meta = findProbabilities(sig);
      select = ref.select;
      if (meta === undefined) {
        const hint = findValue(sig) === undefined ? '' : " (it looks like a regressor: use 'value')";
        throw unknown(
          sig,
          field,
          `the model has no probability output${hint}; its outputs are ${outputList(sig)}`,
        );
      }
      break;
    case 'value':
      meta = findValue(sig);
      select = ref.index === undefined ? undefined : { by: 'index', index: ref.index };
      if (meta === undefined) {
        const hint =
          findLabel(sig) === undefined
            ? ''
            : " (it looks like a classifier: use 'label' or 'probabilities[...]')";
        throw unknown(
          sig,
          field,
          `the model has no single regression output${hint}; its outputs are ${outputList(sig)}`,
        );
      }
      break;
    case 'output':
      meta = sig.outputs.find((o) => o.name === ref.name);
      select = ref.select;
      if (meta === undefined) {
        const names = sig.outputs.map((o) => o.name);
        throw unknown(
          sig,
          field,
          `no output '${ref.name}'${suggestion(ref.name, names)}; its outputs are ${outputList(sig)}`,
        );
      }
      break;
  }
  const tensor = requireTensor(sig, field, meta);
  // Class labels name the columns of the probability output only.
  const isProbability = ref.kind === 'probability' || findProbabilities(sig)?.name === tensor.name;
  const classes = isProbability ? sig.classes : null;
  const column = selectColumn(sig, field, tensor, select, classes);
  return {
    field,
    ref,
    output: tensor.name,
    type: tensor.type,
    column,
    description: describe(tensor, column, classes),
  };
}

/** Bind prediction fields to outputs and columns, once. Throws ModelError on the first bad reference. */
export function resolveOutputs(
  sig: ModelSignature,
  refs: Readonly<Record<string, OutputRef | string>>,
): ResolvedOutput[] {
  return Object.entries(refs).map(([field, r]) => {
    let ref: OutputRef;
    if (typeof r === 'string') {
      const parsed = parseOutputRef(r);
      if (!parsed.ok) {
        throw new ModelError(
          'MODEL_OUTPUT_REF_INVALID',
          sig.path,
          `output of field '${field}': ${parsed.message} (at column ${parsed.offset + 1} of '${r}')`,
          { context: { field, offset: parsed.offset } },
        );
      }
      ref = parsed.ref;
    } else {
      ref = r;
    }
    return resolveOne(sig, field, ref);
  });
}

/** The fields a model offers when the caller names none: label + one probability per class, or value. */
export function defaultOutputRefs(sig: ModelSignature): Record<string, OutputRef> {
  if (sig.classes !== null && findLabel(sig) !== undefined && findProbabilities(sig) !== undefined) {
    const out: Record<string, OutputRef> = { label: { kind: 'label' } };
    sig.classes.forEach((c, index) => {
      out[`probability_${classText(c)}`] = { kind: 'probability', select: { by: 'index', index } };
    });
    return out;
  }
  if (findValue(sig) !== undefined) return { value: { kind: 'value', index: undefined } };
  return Object.fromEntries(
    tensors(sig).map((t) => [t.name, { kind: 'output', name: t.name, select: undefined }]),
  );
}

// ------------------------------------------------------------------------------------- extraction

function int64Column(
  data: BigInt64Array | BigUint64Array,
  stride: number,
  offset: number,
  rows: number,
): (number | bigint)[] {
  const out = new Array<number | bigint>(rows);
  const lo = BigInt(Number.MIN_SAFE_INTEGER);
  const hi = BigInt(Number.MAX_SAFE_INTEGER);
  for (let i = 0; i < rows; i++) {
    const v = data[i * stride + offset]!;
    out[i] = v >= lo && v <= hi ? Number(v) : v;
  }
  return out;
}

function column(tensor: Tensor, stride: number, offset: number, rows: number): PredictionColumn {
  const data = tensor.data;
  if (data instanceof Float32Array || data instanceof Float64Array) {
    if (stride === 1) return data.slice(0, rows);
    const out = data instanceof Float32Array ? new Float32Array(rows) : new Float64Array(rows);
    for (let i = 0; i < rows; i++) out[i] = data[i * stride + offset]!;
    return out;
  }
  if (data instanceof BigInt64Array || data instanceof BigUint64Array)
    return int64Column(data, stride, offset, rows);
  const out = new Array<string | number>(rows);
  const values = data as ArrayLike<string | number>;
  for (let i = 0; i < rows; i++) out[i] = values[i * stride + offset]!;
  return out;
}

/**
 * Copy each resolved field out of one run's results. Throws MODEL_RUN_FAILED when an output does not
 * have the shape the signature promised (the wrong number of rows, or more columns than expected).
 */
export function extractPredictions(
  path: string,
  resolved: readonly ResolvedOutput[],
  results: Readonly<Record<string, Tensor>>,
  rows: number,
): Predictions {
  const columns: Record<string, PredictionColumn> = {};
  for (const r of resolved) {
    const tensor = results[r.output];
    if (tensor === undefined)
      throw new ModelError('MODEL_RUN_FAILED', path, `run returned no output '${r.output}'`);
    const dims = tensor.dims;
    let stride = 1;
    for (let d = 1; d < dims.length; d++) stride *= dims[d]!;
    if ((dims[0] ?? 0) !== rows || dims.length > 2) {
      throw new ModelError(
        'MODEL_RUN_FAILED',
        path,
        `output '${r.output}' has shape [${dims.join(', ')}] for ${rows} input rows; expected [${rows}] or [${rows}, columns]`,
      );
    }
    const offset = r.column ?? 0;
    if (offset >= stride || (r.column === null && stride !== 1)) {
      throw new ModelError(
        'MODEL_RUN_FAILED',
        path,
        `output '${r.output}' has ${stride} columns, field '${r.field}' reads ${r.description}`,
      );
    }
    columns[r.field] = column(tensor, stride, offset, rows);
  }
  return { size: rows, columns };
}

// ------------------------------------------------------------------------------------ predictions

/** Zero rows with the column types a run would produce. */
export function emptyPredictions(resolved: readonly ResolvedOutput[]): Predictions {
  const columns: Record<string, PredictionColumn> = {};
  for (const r of resolved) {
    columns[r.field] =
      r.type === 'float32' ? new Float32Array(0) : r.type === 'float64' ? new Float64Array(0) : [];
  }
  return { size: 0, columns };
}

/** Rows [start, start + count) of `p`, copied. */
export function slicePredictions(p: Predictions, start: number, count: number): Predictions {
  if (start === 0 && count === p.size) return p;
  const columns: Record<string, PredictionColumn> = {};
  for (const [k, c] of Object.entries(p.columns)) columns[k] = c.slice(start, start + count);
  return { size: count, columns };
}

/** Rows of several predictions, in order; all must have the same fields and column types. */
export function concatPredictions(parts: readonly Predictions[]): Predictions {
  const first = parts[0];
  if (parts.length === 1 && first !== undefined) return first;
  const size = parts.reduce((n, p) => n + p.size, 0);
  const columns: Record<string, PredictionColumn> = {};
  if (first === undefined) return { size: 0, columns };
  for (const [k, c] of Object.entries(first.columns)) {
    if (c instanceof Float32Array || c instanceof Float64Array) {
      const out = c instanceof Float32Array ? new Float32Array(size) : new Float64Array(size);
      let at = 0;
      for (const p of parts) {
        const pc = p.columns[k] as Float32Array | Float64Array;
        out.set(pc, at);
        at += pc.length;
      }
      columns[k] = out;
    } else {
      columns[k] = parts.flatMap((p) => p.columns[k] as (string | number | bigint)[]);
    }
  }
  return { size, columns };
}
