/**
 * ONNX tensors may keep their data in files beside the model (`data_location: EXTERNAL`, with a
 * `location` relative to the model's folder). onnxruntime opens whatever path a model names, so a
 * model file from elsewhere could make a worker read any file it can: refused at load unless every
 * location is a relative path inside the model's folder.
 */
import { isAbsolute, normalize, sep } from 'node:path';
import { firstString, readFields, WIRE_BYTES, type WireField } from './proto-wire.js';

// Field numbers from onnx.proto.
const MODEL_GRAPH = 7;
const GRAPH = { node: 1, initializer: 5, sparseInitializer: 15 };
const NODE_ATTRIBUTE = 5;
const ATTR = { t: 5, g: 6, tensors: 10, graphs: 11, sparseTensor: 22, sparseTensors: 23 };
const SPARSE = { values: 1, indices: 2 };
const TENSOR = { name: 8, externalData: 13 };

export interface ExternalDataRef {
  /** The tensor's name. */
  tensor: string;
  /** Its `location`, as written in the model. */
  location: string;
}

/** Why a location is refused, or undefined when it stays inside the model's folder. */
export function unsafeLocation(location: string): string | undefined {
  if (location === '') return 'an empty path';
  if (location.includes('\0')) return 'a path with a NUL byte';
  if (isAbsolute(location) || /^[A-Za-z]:/.test(location) || location.startsWith('\\'))
    return 'an absolute path';
  const n = normalize(location.replaceAll('\\', '/'));
  if (n === '..' || n.startsWith(`..${sep}`) || n.startsWith('../')) return 'a path outside the folder';
  return undefined;
}

/** Every tensor with external data, in the graph, its subgraphs and its attributes. */
export function externalDataRefs(bytes: Uint8Array): ExternalDataRef[] {
  const out: ExternalDataRef[] = [];
  for (const f of readFields(bytes)) {
    if (f.no === MODEL_GRAPH && f.wire === WIRE_BYTES) graph(bytes, f, out);
  }
  return out;
}

function graph(buf: Uint8Array, g: WireField, out: ExternalDataRef[]): void {
  for (const f of readFields(buf, g.value, g.end)) {
    if (f.wire !== WIRE_BYTES) continue;
    if (f.no === GRAPH.initializer) tensor(buf, f, out);
    else if (f.no === GRAPH.sparseInitializer) sparse(buf, f, out);
    else if (f.no === GRAPH.node) {
      for (const a of readFields(buf, f.value, f.end)) {
        if (a.no === NODE_ATTRIBUTE && a.wire === WIRE_BYTES) attribute(buf, a, out);
      }
    }
  }
}

function attribute(buf: Uint8Array, a: WireField, out: ExternalDataRef[]): void {
  for (const f of readFields(buf, a.value, a.end)) {
    if (f.wire !== WIRE_BYTES) continue;
    if (f.no === ATTR.t || f.no === ATTR.tensors) tensor(buf, f, out);
    else if (f.no === ATTR.g || f.no === ATTR.graphs) graph(buf, f, out);
    else if (f.no === ATTR.sparseTensor || f.no === ATTR.sparseTensors) sparse(buf, f, out);
  }
}

function sparse(buf: Uint8Array, s: WireField, out: ExternalDataRef[]): void {
  for (const f of readFields(buf, s.value, s.end)) {
    if (f.wire === WIRE_BYTES && (f.no === SPARSE.values || f.no === SPARSE.indices)) tensor(buf, f, out);
  }
}

function tensor(buf: Uint8Array, t: WireField, out: ExternalDataRef[]): void {
  const fs = readFields(buf, t.value, t.end);
  for (const e of fs) {
    if (e.no !== TENSOR.externalData || e.wire !== WIRE_BYTES) continue;
    const kv = readFields(buf, e.value, e.end);
    if (firstString(buf, kv, 1) !== 'location') continue;
    out.push({ tensor: firstString(buf, fs, TENSOR.name), location: firstString(buf, kv, 2) });
  }
}
