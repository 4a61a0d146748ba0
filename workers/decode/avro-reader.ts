import { int64FromBigInt } from '../core/int64.js';
import {
  decimalFromBytes,
  isDecimal,
  type LogicalHint,
  logicalLeaf,
  rethrowAt,
  VARIABLE_SCALE_DECIMAL,
  variableScaleDecimal,
} from './logical.js';
import { type DecodeState, type Placeholder, UNAVAILABLE } from './unavailable.js';

/**
 * Avro binary decoding compiled from the writer schema (the registry's schema for the message's
 * id), straight into plain objects with Connect logical types converted on the way: one pass, no
 * intermediate avsc records, long values exact (a bigint beyond 2^53, see `core/int64.ts`;
 * Debezium's `ts_ns` is such a long), unions unwrapped, bytes → base64.
 */

/** Malformed Avro bytes (truncated, bad lengths, union/enum index out of range, trailing bytes). */
export class AvroReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AvroReadError';
  }
}

interface Cursor {
  buf: Buffer;
  pos: number;
}

type Reader = (c: Cursor) => unknown;

export interface AvroReaderOptions {
  /** Detect Debezium's unavailable-value placeholder in string/bytes/array record fields. */
  placeholder?: Placeholder | undefined;
  state: DecodeState;
}

/** Decodes one datum that fills `buf` from `start` to its end. */
export type AvroDatumReader = (buf: Buffer, start: number) => unknown;

/** Compiles an Avro schema (parsed JSON) into a datum reader. Throws AvroReadError on a bad schema. */
export function compileAvroReader(schema: unknown, opts: AvroReaderOptions): AvroDatumReader {
  const compiler = new Compiler(opts);
  const read = compiler.compile(schema as AvroSchema, undefined, false);
  return (buf, start) => {
    const c: Cursor = { buf, pos: start };
    const value = read(c);
    if (c.pos !== buf.length) {
      throw new AvroReadError(
        c.pos > buf.length
          ? `truncated Avro datum (${buf.length - start} bytes)`
          : `${buf.length - c.pos} trailing bytes after the Avro datum`,
      );
    }
    return value;
  };
}

type AvroSchema =
  | string
  | AvroSchema[]
  | {
      type: AvroSchema;
      name?: string;
      namespace?: string;
      fields?: { name: string; type: AvroSchema }[];
      items?: AvroSchema;
      values?: AvroSchema;
      symbols?: string[];
      size?: number;
      logicalType?: string;
      scale?: number;
      'connect.name'?: string;
      'connect.parameters'?: Record<string, string>;
    };

function truncated(): never {
  throw new AvroReadError('truncated Avro datum');
}

function readLong(c: Cursor): number {
  const buf = c.buf;
  let pos = c.pos;
  let b = buf[pos++] ?? truncated();
  let n = b & 0x7f;
  let shift = 7;
  while (b & 0x80 && shift < 28) {
    b = buf[pos++] ?? truncated();
    n |= (b & 0x7f) << shift;
    shift += 7;
  }
  if (b & 0x80) {
    // Beyond 28 bits: the higher groups go into `hi` (≤ 36 bits, exact), and the magnitude
    // hi·2^27 + low is rounded once, so a long beyond 2^53 becomes the same double JSON.parse
    // gives for its digits. Zigzag: bit 0 of the first byte is the sign.
    let hi = 0;
    let mul = 1;
    do {
      if (mul > 2 ** 35) throw new AvroReadError('Avro long longer than 10 bytes');
      b = buf[pos++] ?? truncated();
      hi += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    c.pos = pos;
    const magnitude = hi * 134217728 + ((n >>> 1) + (n & 1));
    return n & 1 ? -magnitude : magnitude;
  }
  c.pos = pos;
  return (n >>> 1) ^ -(n & 1);
}

/**
 * A long *value*, exact: a number while it is a safe integer, else a bigint. Lengths, counts and
 * indexes use `readLong` (a value beyond 2^53 is malformed there anyway).
 */
function readLongValue(c: Cursor): number | bigint {
  const buf = c.buf;
  let pos = c.pos;
  let b = buf[pos++] ?? truncated();
  if (!(b & 0x80)) {
    c.pos = pos;
    return (b >>> 1) ^ -(b & 1);
  }
  // Up to 8 bytes in a double: exact while the zigzag value stays below 2^53 (µs timestamps do).
  let u = b & 0x7f;
  let mul = 128;
  do {
    b = buf[pos++] ?? truncated();
    u += (b & 0x7f) * mul;
    mul *= 128;
  } while (b & 0x80 && mul <= 2 ** 49);
  if (!(b & 0x80) && u < 2 ** 53) {
    c.pos = pos;
    // Zigzag: even → u / 2, odd → −(u + 1) / 2.
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }
  return readLongBig(c);
}

function readLongBig(c: Cursor): number | bigint {
  const buf = c.buf;
  let pos = c.pos;
  let big = 0n;
  let shift = 0n;
  let b: number;
  do {
    if (shift > 63n) throw new AvroReadError('Avro long longer than 10 bytes');
    b = buf[pos++] ?? truncated();
    big |= BigInt(b & 0x7f) << shift;
    shift += 7n;
  } while (b & 0x80);
  c.pos = pos;
  big = BigInt.asUintN(64, big);
  return int64FromBigInt((big >> 1n) ^ -(big & 1n));
}

/**
 * The item count of the next array/map block (0 ends it); a negative count is followed by the
 * block's byte size. Counts beyond the bytes left are malformed (items take at least one byte,
 * except nulls, which arrays of are not worth a hole).
 */
function readBlockCount(c: Cursor): number {
  let count = readLong(c);
  if (count < 0) {
    count = -count;
    readLong(c);
  }
  if (count > c.buf.length - c.pos + 1) throw new AvroReadError(`invalid Avro block count ${count}`);
  return count;
}

/** Avro ints are zigzag varints too (at most 5 bytes). */
const readInt = readLong;

/** Reads a length prefix and returns the start of the span; `c.pos` moves past it. */
function readSpan(c: Cursor): number {
  const len = readLong(c);
  const start = c.pos;
  if (len < 0 || start + len > c.buf.length) throw new AvroReadError(`invalid Avro length ${len}`);
  c.pos = start + len;
  return start;
}

const readNull: Reader = () => null;
const readBoolean: Reader = (c) => {
  const b = c.buf[c.pos++] ?? truncated();
  if (b > 1) throw new AvroReadError(`invalid Avro boolean byte ${b}`);
  return b === 1;
};
const readFloat: Reader = (c) => {
  if (c.pos + 4 > c.buf.length) truncated();
  const v = c.buf.readFloatLE(c.pos);
  c.pos += 4;
  return v;
};
const readDouble: Reader = (c) => {
  if (c.pos + 8 > c.buf.length) truncated();
  const v = c.buf.readDoubleLE(c.pos);
  c.pos += 8;
  return v;
};
const readString = (c: Cursor): string => {
  const start = readSpan(c);
  return utf8(c.buf, start, c.pos);
};

/**
 * Short ASCII strings: checked in JS (cheaper than crossing into C++ to learn they are ASCII), then
 * made in one piece — by appending characters below 13 (V8 copies such short results into a flat
 * string), by a latin1 slice from 13 to 32 bytes: appending there made a cons string per character
 * (a tree of 10-20 nodes for an email address), garbage for the collector and a flattening cost for
 * whoever reads the string later (issue 20's heap snapshot: 545k cons strings in a catch-up).
 */
function utf8(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  if (n > 32) return buf.toString('utf8', start, end);
  for (let i = start; i < end; i++) if (buf[i]! & 0x80) return buf.toString('utf8', start, end);
  if (n >= 13) return buf.toString('latin1', start, end);
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
  return s;
}
const readRawBytes: Reader = (c) => {
  const start = readSpan(c);
  return c.buf.subarray(start, c.pos);
};

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

class Compiler {
  private readonly named = new Map<string, Reader>();
  constructor(private readonly opts: AvroReaderOptions) {}

  /** `field`: the type of a record field (or a union branch of one): placeholder checks apply. */
  compile(schema: AvroSchema, namespace: string | undefined, field: boolean): Reader {
    if (typeof schema === 'string') {
      if (PRIMITIVES.has(schema)) return this.primitive(schema, {}, field);
      const full = schema.includes('.') || namespace === undefined ? schema : `${namespace}.${schema}`;
      const found = this.named.get(full) ?? this.named.get(schema);
      if (found === undefined)
        throw new AvroReadError(`Avro schema refers to unknown type ${JSON.stringify(schema)}`);
      return found;
    }
    if (Array.isArray(schema)) return this.union(schema, namespace, field);
    if (typeof schema !== 'object' || schema === null) {
      throw new AvroReadError(`invalid Avro schema node ${JSON.stringify(schema)}`);
    }
    const hint: LogicalHint = {
      name: schema['connect.name'],
      logicalType: schema.logicalType,
      scale: schema.scale ?? numberOrUndefined(schema['connect.parameters']?.['scale']),
    };
    const type = schema.type;
    if (typeof type !== 'string') return this.compile(type, namespace, field);
    if (PRIMITIVES.has(type)) return this.primitive(type, hint, field);
    switch (type) {
      case 'record':
      case 'error':
        return this.record(schema, namespace, hint);
      case 'enum': {
        const symbols = schema.symbols ?? [];
        const reader: Reader = (c) => {
          const i = readInt(c);
          const s = symbols[i];
          if (s === undefined) throw new AvroReadError(`Avro enum index ${i} out of range`);
          return s;
        };
        this.define(schema, namespace, reader);
        return reader;
      }
      case 'fixed': {
        const size = schema.size ?? 0;
        const scale = hint.scale ?? 0;
        const reader: Reader = isDecimal(hint)
          ? (c) => {
              const start = c.pos;
              c.pos += size;
              if (c.pos > c.buf.length) truncated();
              return decimalFromBytes(c.buf, scale, start, c.pos);
            }
          : (c) => {
              const start = c.pos;
              c.pos += size;
              if (c.pos > c.buf.length) truncated();
              return c.buf.toString('base64', start, c.pos);
            };
        this.define(schema, namespace, reader);
        return reader;
      }
      case 'array':
        return this.array(schema.items ?? 'null', namespace, field);
      case 'map':
        return this.map(schema.values ?? 'null', namespace);
      default:
        throw new AvroReadError(`unknown Avro type ${JSON.stringify(type)}`);
    }
  }

  private define(
    schema: { name?: string; namespace?: string },
    namespace: string | undefined,
    reader: Reader,
  ): void {
    if (schema.name === undefined) throw new AvroReadError('named Avro type without a name');
    this.named.set(fullName(schema.name, schema.namespace ?? namespace), reader);
  }

  private primitive(type: string, hint: LogicalHint, field: boolean): Reader {
    const p = field ? this.opts.placeholder : undefined;
    const state = this.opts.state;
    switch (type) {
      case 'null':
        return readNull;
      case 'boolean':
        return readBoolean;
      case 'float':
        return readFloat;
      case 'double':
        return readDouble;
      case 'int':
      case 'long': {
        const read: Reader = type === 'int' ? readInt : readLongValue;
        const leaf = logicalLeaf(hint);
        return leaf === undefined ? read : (c) => leaf(read(c));
      }
      case 'string': {
        const leaf = logicalLeaf(hint);
        if (p === undefined) return leaf === undefined ? readString : (c) => leaf(readString(c));
        return (c) => {
          const s = readString(c);
          if (s === p.text) {
            state.unavailable = true;
            return UNAVAILABLE;
          }
          return leaf === undefined ? s : leaf(s);
        };
      }
      default: {
        // bytes
        const decimal = isDecimal(hint);
        const scale = hint.scale ?? 0;
        const leaf = decimal ? undefined : logicalLeaf(hint);
        return (c) => {
          const start = readSpan(c);
          const end = c.pos;
          if (
            p !== undefined &&
            end - start === p.bytes.length &&
            p.bytes.equals(c.buf.subarray(start, end))
          ) {
            state.unavailable = true;
            return UNAVAILABLE;
          }
          if (decimal) return decimalFromBytes(c.buf, scale, start, end);
          const b64 = c.buf.toString('base64', start, end);
          return leaf === undefined ? b64 : leaf(b64);
        };
      }
    }
  }

  private union(branches: AvroSchema[], namespace: string | undefined, field: boolean): Reader {
    const readers = branches.map((b) => this.compile(b, namespace, field));
    if (readers.length === 2 && readers[0] === readNull) {
      const other = readers[1]!;
      return (c) => {
        const i = readLong(c);
        if (i === 0) return null;
        if (i === 1) return other(c);
        throw new AvroReadError(`Avro union index ${i} out of range`);
      };
    }
    return (c) => {
      const i = readLong(c);
      const r = readers[i];
      if (r === undefined) throw new AvroReadError(`Avro union index ${i} out of range`);
      return r(c);
    };
  }

  private record(
    schema: { name?: string; namespace?: string; fields?: { name: string; type: AvroSchema }[] },
    namespace: string | undefined,
    hint: LogicalHint,
  ): Reader {
    const name = schema.name ?? '';
    const ns = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : (schema.namespace ?? namespace);
    const full = fullName(name, ns);
    // Registered before the fields are compiled so recursive references resolve (lazily).
    let compiled: Reader | undefined;
    this.named.set(full, (c) => compiled!(c));
    const fields = schema.fields ?? [];
    const names = fields.map((f) => f.name);
    const variableScale = hint.name === VARIABLE_SCALE_DECIMAL;
    const readers = fields.map((f) =>
      variableScale && f.name === 'value' ? rawBytesOf(f.type) : this.compile(f.type, ns, true),
    );
    const readRecord = recordReader(names, readers);
    compiled = variableScale ? (c) => variableScaleDecimal(readRecord(c)) : readRecord;
    this.named.set(full, compiled);
    return compiled;
  }

  private array(items: AvroSchema, namespace: string | undefined, field: boolean): Reader {
    const item = this.compile(items, namespace, false);
    const p = field ? this.opts.placeholder : undefined;
    const state = this.opts.state;
    const rawItem = p === undefined ? undefined : placeholderProbe(items);
    return (c) => {
      const out: unknown[] = [];
      for (;;) {
        const count = readBlockCount(c);
        if (count === 0) break;
        if (rawItem !== undefined && p !== undefined && count === 1 && out.length === 0) {
          const at = c.pos;
          if (rawItem(c, p)) {
            if (readLong(c) === 0) {
              state.unavailable = true;
              return UNAVAILABLE;
            }
          }
          c.pos = at;
        }
        for (let i = 0; i < count; i++) out.push(item(c));
      }
      return out;
    };
  }

  private map(values: AvroSchema, namespace: string | undefined): Reader {
    const value = this.compile(values, namespace, false);
    return (c) => {
      const out: Record<string, unknown> = {};
      for (;;) {
        const count = readBlockCount(c);
        if (count === 0) break;
        for (let i = 0; i < count; i++) {
          const k = readString(c);
          if (k === '__proto__') {
            Object.defineProperty(out, k, {
              value: value(c),
              enumerable: true,
              writable: true,
              configurable: true,
            });
          } else {
            out[k] = value(c);
          }
        }
      }
      return out;
    };
  }
}

/**
 * Reads a record into a plain object built by one object literal (generated once per record
 * schema: one hidden class, no per-field property additions). Field names are embedded as JSON
 * string literals, so no name can inject code. When a field fails, the record is read again field
 * by field to name the failing one in the error.
 */
function recordReader(names: readonly string[], readers: readonly Reader[]): Reader {
  const props = names.map(
    (name, i) => `${name === '__proto__' ? '["__proto__"]' : JSON.stringify(name)}: r[${i}](c)`,
  );
  const literal = new Function('r', `return function readRecord(c) { return { ${props.join(', ')} }; };`)(
    readers,
  ) as Reader;
  const slow: Reader = (c) => {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < names.length; i++) {
      try {
        readers[i]!(c);
      } catch (err) {
        rethrowAt(err, names[i]!);
      }
    }
    return o;
  };
  return (c) => {
    const start = c.pos;
    try {
      return literal(c);
    } catch (err) {
      c.pos = start;
      slow(c);
      throw err;
    }
  };
}

/** For a VariableScaleDecimal's `value` field: the unscaled bytes as they are. */
function rawBytesOf(type: AvroSchema): Reader {
  if (type === 'bytes' || (typeof type === 'object' && !Array.isArray(type) && type.type === 'bytes')) {
    return readRawBytes;
  }
  throw new AvroReadError('VariableScaleDecimal value must be bytes');
}

/**
 * For an array of strings or bytes (optional ones too, as Debezium writes them): reads one item
 * and tells whether it is the placeholder. The caller rewinds.
 */
function placeholderProbe(items: AvroSchema): ((c: Cursor, p: Placeholder) => boolean) | undefined {
  if (Array.isArray(items)) {
    const branches = items.map((b) => placeholderProbe(b));
    if (!branches.some((b) => b !== undefined)) return undefined;
    return (c, p) => {
      const probe = branches[readLong(c)];
      return probe?.(c, p) === true;
    };
  }
  const t = typeof items === 'object' ? items.type : items;
  if (t === 'string') return (c, p) => readString(c) === p.text;
  if (t === 'bytes') {
    return (c, p) => {
      const start = readSpan(c);
      return c.pos - start === p.bytes.length && p.bytes.equals(c.buf.subarray(start, c.pos));
    };
  }
  return undefined;
}

function fullName(name: string, namespace: string | undefined): string {
  return name.includes('.') || !namespace ? name : `${namespace}.${name}`;
}

function numberOrUndefined(s: string | undefined): number | undefined {
  return s === undefined ? undefined : Number(s);
}
