import { int64FromBigInt } from '../core/int64.js';

/**
 * Kafka Connect / Debezium logical types → plain JS values, shared by the JSON (Connect schema)
 * and Avro paths so both encodings of the same change produce identical values:
 * decimals → number (integral ones exact, see `core/int64.ts`), dates and timestamps → epoch ms (fractional ms kept), times → ms of day,
 * Uuid → string, Json → parsed value, plain bytes → base64 string (what JsonConverter emits).
 */

/** Thrown by a conversion for one value; the decoder turns it into a record failure. */
export class ValueConversionError extends Error {
  /** Field names from the outermost struct down to the failing value, filled in while unwinding. */
  readonly path: string[] = [];
  constructor(message: string) {
    super(message);
    this.name = 'ValueConversionError';
  }
}

/** Prefixes `field` to the path of a conversion error thrown below it; rethrows anything else too. */
export function rethrowAt(err: unknown, field: string): never {
  if (err instanceof ValueConversionError) err.path.unshift(field);
  throw err;
}

/** Converts one non-null value. */
export type Leaf = (value: unknown) => unknown;

/** What a field schema says about its meaning (Connect `name`, Avro `logicalType`, parameters). */
export interface LogicalHint {
  /** Connect schema name, e.g. `io.debezium.time.MicroTimestamp` (Avro: `connect.name`). */
  name?: string | undefined;
  /** Avro logicalType, e.g. `decimal`, `timestamp-micros`. */
  logicalType?: string | undefined;
  /** Decimal scale (Connect parameter `scale`, Avro `scale`). */
  scale?: number | undefined;
}

const MS_PER_DAY = 86_400_000;

export const CONNECT_DECIMAL = 'org.apache.kafka.connect.data.Decimal';
export const VARIABLE_SCALE_DECIMAL = 'io.debezium.data.VariableScaleDecimal';

// Exact powers of ten as doubles (10^22 is the largest exactly representable one).
const POW10: number[] = [];
for (let i = 0, p = 1; i <= 22; i++, p *= 10) POW10.push(p);

/**
 * Big-endian two's-complement unscaled integer with `scale` → the nearest double of the exact
 * decimal (the same value `Number('<digits>e-<scale>')` gives), e.g. [0x30, 0x39] scale 2 → 123.45.
 * An integral decimal (scale 0, e.g. NUMERIC(20,0)) stays exact: a bigint beyond 2^53.
 */
export function decimalFromBytes(
  bytes: Uint8Array,
  scale: number,
  start = 0,
  end = bytes.length,
): number | bigint {
  const n = end - start;
  if (n <= 0) return 0;
  // Magnitude in a double (two's complement negated on the fly); exact while it stays ≤ 2^53.
  const negative = (bytes[start]! & 0x80) !== 0;
  let v = 0;
  if (negative) {
    for (let i = start; i < end; i++) v = v * 256 + (~bytes[i]! & 0xff);
    v += 1;
  } else {
    for (let i = start; i < end; i++) v = v * 256 + bytes[i]!;
  }
  if (v < 2 ** 53) return scaleNumber(negative ? -v : v, scale);
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset + start, n).toString('hex');
  const unscaled = BigInt.asIntN(8 * n, BigInt(`0x${hex}`));
  return scale === 0 ? int64FromBigInt(unscaled) : Number(`${unscaled}e${-scale}`);
}

function scaleNumber(unscaled: number, scale: number): number {
  if (scale === 0) return unscaled;
  if (scale > 0 && scale <= 22) return unscaled / POW10[scale]!;
  if (scale < 0 && scale >= -22) return unscaled * POW10[-scale]!;
  return Number(`${unscaled}e${-scale}`);
}

const B64 = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;
}
B64['-'.charCodeAt(0)] = 62;
B64['_'.charCodeAt(0)] = 63;

/** Decodes base64 (standard or URL-safe, padding optional) into `scratch`; returns the byte count. */
function base64Into(s: string, scratch: { buf: Uint8Array }): number {
  let len = s.length;
  while (len > 0 && s.charCodeAt(len - 1) === 61 /* = */) len--;
  const out = (len * 3) >> 2;
  if (scratch.buf.length < out) scratch.buf = new Uint8Array(out * 2);
  const buf = scratch.buf;
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    const d = c < 128 ? B64[c]! : -1;
    if (d < 0) throw new ValueConversionError(`invalid base64 in a decimal: ${JSON.stringify(s)}`);
    acc = ((acc << 6) | d) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[o++] = (acc >> bits) & 0xff;
    }
  }
  return o;
}

const scratch = { buf: new Uint8Array(64) };

/** A Connect Decimal as JsonConverter writes it: base64 bytes (or a number with decimal.format=NUMERIC). */
export function decimalFromJson(value: unknown, scale: number): number | bigint {
  if (typeof value === 'string') {
    const n = base64Into(value, scratch);
    return decimalFromBytes(scratch.buf, scale, 0, n);
  }
  if (typeof value === 'number' || typeof value === 'bigint') return value;
  if (value instanceof Uint8Array) return decimalFromBytes(value, scale);
  throw new ValueConversionError(`expected a decimal (base64 bytes), found ${describe(value)}`);
}

/** `io.debezium.data.VariableScaleDecimal`: `{ scale, value }` with value as bytes or base64. */
export function variableScaleDecimal(value: unknown): number | bigint {
  if (typeof value !== 'object' || value === null) {
    throw new ValueConversionError(
      `expected a VariableScaleDecimal {scale, value}, found ${describe(value)}`,
    );
  }
  const v = value as { scale?: unknown; value?: unknown };
  if (typeof v.scale !== 'number') {
    throw new ValueConversionError(
      `expected a VariableScaleDecimal {scale, value}, found ${describe(value)}`,
    );
  }
  return decimalFromJson(v.value, v.scale);
}

const ISO_ZONED = /^(\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}(?::?\d{2})?)$/;

/** `io.debezium.time.ZonedTimestamp` (ISO-8601 with offset) → epoch ms, sub-ms digits kept. */
export function zonedTimestamp(value: unknown): number {
  if (typeof value !== 'string')
    throw new ValueConversionError(`expected an ISO timestamp, found ${describe(value)}`);
  const fast = utcTimestamp(value);
  if (fast !== undefined) return fast;
  const m = ISO_ZONED.exec(value);
  if (m === null) {
    if (value === 'infinity') return Number.POSITIVE_INFINITY;
    if (value === '-infinity') return Number.NEGATIVE_INFINITY;
    throw new ValueConversionError(`expected an ISO timestamp with offset, found ${JSON.stringify(value)}`);
  }
  const base = Date.parse(`${m[1]}${normalizeOffset(m[3]!)}`);
  if (Number.isNaN(base)) throw new ValueConversionError(`invalid timestamp ${JSON.stringify(value)}`);
  return m[2] === undefined ? base : base + fractionMs(m[2]);
}

/** `.123456789` → 123.456789 ms: whole ms exactly, then the rest, so one rounding like µs / 1000. */
function fractionMs(frac: string): number {
  const digits = frac.slice(1);
  const whole = Number(digits.slice(0, 3).padEnd(3, '0'));
  return digits.length <= 3 ? whole : whole + Number(`0.${digits.slice(3)}`);
}

/**
 * The form Debezium writes (`2024-01-15T11:45:30.123456Z`, always UTC, years 0000-9999) without
 * a regex or Date.parse; undefined for anything else (the general parser takes over).
 */
function utcTimestamp(s: string): number | undefined {
  const len = s.length;
  if (len < 20 || s.charCodeAt(len - 1) !== 90 /* Z */ || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) {
    return undefined;
  }
  if (s.charCodeAt(10) !== 84 /* T */ || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined;
  const y = digits(s, 0, 4);
  const mo = digits(s, 5, 7);
  const d = digits(s, 8, 10);
  const h = digits(s, 11, 13);
  const mi = digits(s, 14, 16);
  const sec = digits(s, 17, 19);
  if (
    y < 100 ||
    mo < 1 ||
    mo > 12 ||
    d < 1 ||
    d > 31 ||
    h < 0 ||
    h > 23 ||
    mi < 0 ||
    mi > 59 ||
    sec < 0 ||
    sec > 59
  ) {
    return undefined;
  }
  const base = Date.UTC(y, mo - 1, d, h, mi, sec);
  if (len === 20) return base;
  if (s.charCodeAt(19) !== 46 /* . */ || len === 21 || digits(s, 20, len - 1) < 0) return undefined;
  return base + fractionMs(s.slice(19, len - 1));
}

/** The decimal number in s[from, to), or -1 when a character is not a digit. */
function digits(s: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

const ISO_ZONED_TIME = /^(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}(?::?\d{2})?)$/;

/** `io.debezium.time.ZonedTime` (`10:15:30.123+02:00`) → ms of day in UTC. */
export function zonedTime(value: unknown): number {
  const m = typeof value === 'string' ? ISO_ZONED_TIME.exec(value) : null;
  if (m === null)
    throw new ValueConversionError(`expected an ISO time with offset, found ${describe(value)}`);
  const local =
    (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0)) * 1000 + Number(m[4] ?? 0) * 1000;
  const zone = m[5]!;
  let offsetMs = 0;
  if (zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    offsetMs = (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0)) * 60_000;
    if (zone[0] === '-') offsetMs = -offsetMs;
  }
  return (((local - offsetMs) % MS_PER_DAY) + MS_PER_DAY) % MS_PER_DAY;
}

function normalizeOffset(zone: string): string {
  if (zone === 'Z') return zone;
  if (zone.length === 3) return `${zone}:00`;
  if (zone.length === 5) return `${zone.slice(0, 3)}:${zone.slice(3)}`;
  return zone;
}

function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new ValueConversionError(`expected JSON text (io.debezium.data.Json), found ${describe(value)}`);
  }
}

/** A conversion of a number; a bigint (a long beyond 2^53, e.g. NanoTimestamp) is read as its double. */
function numeric(f: (n: number) => number): Leaf {
  return (v) => {
    if (typeof v === 'bigint') return f(Number(v));
    if (typeof v !== 'number') throw new ValueConversionError(`expected a number, found ${describe(v)}`);
    return f(v);
  };
}

const identity: Leaf = (v) => v;
const days = numeric((d) => d * MS_PER_DAY);
const micros = numeric((u) => u / 1000);
const nanos = numeric((n) => n / 1_000_000);

/** Converters keyed by Connect schema name (what Debezium and Kafka Connect put in `name`). */
const BY_NAME: Record<string, Leaf> = {
  'io.debezium.time.Date': days,
  'org.apache.kafka.connect.data.Date': days,
  'io.debezium.time.Time': identity,
  'org.apache.kafka.connect.data.Time': identity,
  'io.debezium.time.MicroTime': micros,
  'io.debezium.time.NanoTime': nanos,
  'io.debezium.time.Timestamp': identity,
  'org.apache.kafka.connect.data.Timestamp': identity,
  'io.debezium.time.MicroTimestamp': micros,
  'io.debezium.time.NanoTimestamp': nanos,
  'io.debezium.time.ZonedTimestamp': zonedTimestamp,
  'io.debezium.time.ZonedTime': zonedTime,
  'io.debezium.data.Uuid': identity,
  'io.debezium.data.Json': parseJson,
  [VARIABLE_SCALE_DECIMAL]: variableScaleDecimal,
};

/** Converters keyed by Avro logicalType, used when no Connect name says otherwise. */
const BY_LOGICAL_TYPE: Record<string, Leaf> = {
  date: days,
  'time-millis': identity,
  'time-micros': micros,
  'timestamp-millis': identity,
  'timestamp-micros': micros,
  'timestamp-nanos': nanos,
  'local-timestamp-millis': identity,
  'local-timestamp-micros': micros,
  'local-timestamp-nanos': nanos,
  uuid: identity,
};

/**
 * The converter for a field's logical type, or undefined when the value is used as it is.
 * Decimals are handled by the callers (they need the raw bytes); see `isDecimal`.
 */
export function logicalLeaf(hint: LogicalHint): Leaf | undefined {
  const byName = hint.name === undefined ? undefined : BY_NAME[hint.name];
  if (byName !== undefined) return byName === identity ? undefined : byName;
  const byLogical = hint.logicalType === undefined ? undefined : BY_LOGICAL_TYPE[hint.logicalType];
  return byLogical === identity ? undefined : byLogical;
}

/** A fixed-scale decimal (Connect Decimal or Avro logicalType decimal). */
export function isDecimal(hint: LogicalHint): boolean {
  return hint.name === CONNECT_DECIMAL || (hint.name === undefined && hint.logicalType === 'decimal');
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
