/**
 * onnxruntime run directly on a model file, as the reference the e2e tests compare stored scores
 * with. A skl2onnx classifier ends in a ZipMap whose seq(map) output onnxruntime-node cannot hand
 * over; its input tensor (the probabilities, one column per class) is not a graph output, so it
 * cannot be fetched either. `referenceSession` therefore declares that tensor as one more graph
 * output — a few protobuf bytes appended to the GraphProto, written here independently of the
 * product's own ZipMap rewrite (workers/inference/onnx-graph.ts), which replaces the ZipMap instead.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';

function readVarint(b: Uint8Array, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  let i = at;
  for (;;) {
    const byte = b[i++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, i];
    scale *= 128;
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  do {
    const low = v % 128;
    v = Math.floor(v / 128);
    out.push(v > 0 ? low | 0x80 : low);
  } while (v > 0);
  return Buffer.from(out);
}

/** A length-delimited protobuf field. */
const lengthField = (field: number, body: Buffer) =>
  Buffer.concat([varint((field << 3) | 2), varint(body.length), body]);

/** ModelProto.graph = 7; GraphProto.output = 12; ValueInfoProto.name = 1, .type = 2; TypeProto.tensor_type = 1; elem_type = 1 (FLOAT = 1). */
function withFloatOutputs(model: Buffer, names: readonly string[]): Buffer {
  let i = 0;
  while (i < model.length) {
    const start = i;
    const [tag, afterTag] = readVarint(model, i);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) [, i] = readVarint(model, afterTag);
    else if (wire === 2) {
      const [len, body] = readVarint(model, afterTag);
      i = body + len;
      if (field === 7) {
        const floatType = lengthField(1, Buffer.concat([varint(1 << 3), varint(1)]));
        const outputs = names.map((n) =>
          lengthField(12, Buffer.concat([lengthField(1, Buffer.from(n)), lengthField(2, floatType)])),
        );
        const graph = Buffer.concat([model.subarray(body, i), ...outputs]);
        return Buffer.concat([model.subarray(0, start), lengthField(7, graph), model.subarray(i)]);
      }
    } else if (wire === 5) i = afterTag + 4;
    else if (wire === 1) i = afterTag + 8;
    else throw new Error(`unexpected protobuf wire type ${wire} in the model`);
  }
  throw new Error('the model has no graph');
}

/**
 * A session on `path`, with the named float tensors of its graph declared as outputs too. One
 * intra-op thread, as the worker runs its models: with more, a tree ensemble sums its trees in
 * parallel chunks for small batches, and the float32 sum (so the score's last bits) depends on how
 * the rows happened to be batched.
 */
export function referenceSession(path: string, exposeFloat: string[] = []): Promise<ort.InferenceSession> {
  const bytes = readFileSync(path);
  return ort.InferenceSession.create(exposeFloat.length > 0 ? withFloatOutputs(bytes, exposeFloat) : bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
}

/** Runs `session` on rows of features (float32, one row per record); returns the fetched outputs. */
export async function runReference(
  session: ort.InferenceSession,
  rows: readonly (readonly number[])[],
  fetches: string[],
): Promise<Record<string, ort.Tensor>> {
  const width = rows[0]?.length ?? 0;
  const data = new Float32Array(rows.length * width);
  rows.forEach((r, i) => {
    data.set(r, i * width);
  });
  return session.run(
    { [session.inputNames[0]!]: new ort.Tensor('float32', data, [rows.length, width]) },
    fetches,
  );
}
