/**
 * Just enough of the protobuf wire format to read an ONNX ModelProto and splice a few of its
 * fields: walk a message's fields without a schema, decode varints/strings, and encode new
 * length-delimited fields. Unknown fields are carried over byte for byte, so a rewrite changes only
 * what it means to change.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

/** One field occurrence inside a message: `start..end` spans tag and value, `value..end` the payload. */
export interface WireField {
  readonly no: number;
  readonly wire: number;
  readonly start: number;
  readonly value: number;
  readonly end: number;
  /** The decoded varint for wire type 0. */
  readonly varint: bigint;
}

export class ProtoError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`);
    this.name = 'ProtoError';
  }
}

function readVarint(buf: Uint8Array, pos: number): { value: bigint; next: number } {
  let result = 0n;
  let shift = 0n;
  for (let i = pos; i < buf.length && i < pos + 10; i++) {
    const b = buf[i]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value: result, next: i + 1 };
    shift += 7n;
  }
  throw new ProtoError('truncated or overlong varint', pos);
}

/** The fields of the message in `buf[start, end)`, in wire order. */
export function readFields(buf: Uint8Array, start = 0, end = buf.length): WireField[] {
  const out: WireField[] = [];
  let pos = start;
  while (pos < end) {
    const tag = readVarint(buf, pos);
    const no = Number(tag.value >> 3n);
    const wire = Number(tag.value & 7n);
    if (no === 0) throw new ProtoError('field number 0', pos);
    let value = tag.next;
    let fieldEnd: number;
    let varint = 0n;
    switch (wire) {
      case WIRE_VARINT: {
        const v = readVarint(buf, value);
        varint = v.value;
        fieldEnd = v.next;
        break;
      }
      case WIRE_FIXED64:
        fieldEnd = value + 8;
        break;
      case WIRE_FIXED32:
        fieldEnd = value + 4;
        break;
      case WIRE_BYTES: {
        const len = readVarint(buf, value);
        value = len.next;
        fieldEnd = value + Number(len.value);
        break;
      }
      default:
        throw new ProtoError(`unsupported wire type ${wire}`, pos);
    }
    if (fieldEnd > end) throw new ProtoError(`field ${no} runs past the end of its message`, pos);
    out.push({ no, wire, start: pos, value, end: fieldEnd, varint });
    pos = fieldEnd;
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

export function fieldBytes(buf: Uint8Array, f: WireField): Uint8Array {
  return buf.subarray(f.value, f.end);
}

export function fieldString(buf: Uint8Array, f: WireField): string {
  return utf8.decode(buf.subarray(f.value, f.end));
}

/** A repeated int64 field: unpacked (one varint per occurrence) or packed (one length-delimited run). */
export function repeatedInt64(buf: Uint8Array, fields: readonly WireField[], no: number): bigint[] {
  const out: bigint[] = [];
  for (const f of fields) {
    if (f.no !== no) continue;
    if (f.wire === WIRE_VARINT) {
      out.push(BigInt.asIntN(64, f.varint));
    } else if (f.wire === WIRE_BYTES) {
      let pos = f.value;
      while (pos < f.end) {
        const v = readVarint(buf, pos);
        out.push(BigInt.asIntN(64, v.value));
        pos = v.next;
      }
    }
  }
  return out;
}

export function repeatedString(buf: Uint8Array, fields: readonly WireField[], no: number): string[] {
  return fields.filter((f) => f.no === no && f.wire === WIRE_BYTES).map((f) => fieldString(buf, f));
}

export function firstString(buf: Uint8Array, fields: readonly WireField[], no: number): string {
  const f = fields.find((x) => x.no === no && x.wire === WIRE_BYTES);
  return f === undefined ? '' : fieldString(buf, f);
}

// ---------------------------------------------------------------------------------------- encode

function encodeVarint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

/** Concatenate byte runs into one buffer. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** A length-delimited field (`no`, wire type 2) holding `payload`. */
export function bytesField(no: number, payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === 'string' ? utf8Encoder.encode(payload) : payload;
  const head = [...encodeVarint((no << 3) | WIRE_BYTES), ...encodeVarint(body.length)];
  return concatBytes([Uint8Array.from(head), body]);
}

export function varintField(no: number, value: number | bigint): Uint8Array {
  return Uint8Array.from([...encodeVarint((no << 3) | WIRE_VARINT), ...encodeVarint(value)]);
}

/** A message payload assembled from encoded fields. */
export function message(...fields: readonly Uint8Array[]): Uint8Array {
  return concatBytes(fields);
}
