import { type ConnectSchema, compileConnectSchema, connectSchemaFromAvro } from '../decode/connect-schema.js';
import { CONNECT_DECIMAL, describe, type Leaf, ValueConversionError } from '../decode/logical.js';

/**
 * A record handed to the scorer directly (HTTP, embedded): the source row as Debezium's `after`
 * (column values in JsonConverter's JSON forms: a Decimal as base64 of its unscaled bytes or as a
 * number, io.debezium.time.Date as days since the epoch, ZonedTimestamp as ISO-8601 text, …) and
 * optionally the Kafka message key the stream would have had (for key expressions reading `key`).
 */
export interface InputRecord {
  after: Record<string, unknown>;
  key?: unknown;
}

/** One input value that is not what the row schema says; `path` names it (`[2].after.seats`). */
export class InputError extends Error {
  constructor(
    readonly path: string,
    /** What is wrong, e.g. `expected an integer (int32) or null, found string "3"`. */
    readonly detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = 'InputError';
  }

  static expected(path: string, expected: string, found: string): InputError {
    return new InputError(path, `expected ${expected}, found ${found}`);
  }

  static is(err: unknown): err is InputError {
    return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'InputError';
  }
}

/** A column of the row schema, as the Connect schema the stream's JSON decoder converts it with. */
export interface InputColumn {
  name: string;
  schema: ConnectSchema;
  nullable: boolean;
}

/** The row's columns from an input schema (.avsc: the row record, or a whole Debezium envelope). */
export function inputColumns(avsc: unknown): InputColumn[] {
  const row = connectSchemaFromAvro(avsc);
  if (row.type !== 'struct') {
    throw new Error(`the input schema is not a record schema (its type is ${row.type})`);
  }
  return (row.fields ?? []).map((f) => ({ name: f.field!, schema: f, nullable: f.optional === true }));
}

const INT_RANGES: Record<string, [number, number]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
};

/** What a value of a column must look like, in words (error messages, API docs). */
export function expectedOf(s: ConnectSchema): string {
  const name = s.name;
  if (s.type === 'bytes' && name === CONNECT_DECIMAL) {
    return `a decimal (a number, or base64 of the unscaled bytes at scale ${s.parameters?.['scale'] ?? 0})`;
  }
  switch (name) {
    case 'io.debezium.time.Date':
    case 'org.apache.kafka.connect.data.Date':
      return `days since 1970-01-01 as an integer (${name})`;
    case 'io.debezium.time.ZonedTimestamp':
      return `an ISO-8601 timestamp with offset, e.g. 2024-01-15T11:45:30.123456Z (${name})`;
    case 'io.debezium.time.ZonedTime':
      return `an ISO-8601 time with offset, e.g. 10:15:30+02:00 (${name})`;
    case 'io.debezium.time.MicroTimestamp':
      return `microseconds since the epoch as an integer (${name})`;
    case 'io.debezium.time.Timestamp':
    case 'org.apache.kafka.connect.data.Timestamp':
      return `milliseconds since the epoch as an integer (${name})`;
    case 'io.debezium.time.NanoTimestamp':
      return `nanoseconds since the epoch as an integer (${name})`;
    case 'io.debezium.data.Uuid':
      return 'a UUID as text';
    case 'io.debezium.data.Json':
      return 'JSON text (io.debezium.data.Json)';
    case 'io.debezium.data.VariableScaleDecimal':
      return 'a decimal {"scale": n, "value": base64 of the unscaled bytes}';
    default:
      break;
  }
  switch (s.type) {
    case 'int8':
    case 'int16':
    case 'int32':
    case 'int64':
      return `an integer (${s.type})`;
    case 'float32':
    case 'float64':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'string':
      return 'a string';
    case 'bytes':
      return 'base64 text (bytes)';
    case 'array':
      return 'an array';
    case 'map':
      return 'an object (map)';
    case 'struct':
      return 'an object';
    default:
      return 'any JSON value';
  }
}

/** Whether `v` (non-null) has the JSON shape of schema `s`; inner values are checked by `check`. */
function shapeFits(s: ConnectSchema, v: unknown): boolean {
  switch (s.type) {
    case 'int8':
    case 'int16':
    case 'int32': {
      const [lo, hi] = INT_RANGES[s.type]!;
      return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
    }
    case 'int64':
      return (
        (typeof v === 'number' && Number.isSafeInteger(v)) ||
        (typeof v === 'bigint' && v >= -(2n ** 63n) && v < 2n ** 63n)
      );
    case 'float32':
    case 'float64':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'bytes':
      return typeof v === 'string' || (s.name === CONNECT_DECIMAL && typeof v === 'number');
    case 'array':
      return Array.isArray(v);
    case 'map':
    case 'struct':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    default:
      return true;
  }
}

function found(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'bigint') return `integer ${v}`;
  return describe(v);
}

/** Checks one value against its schema, recursively (structs strictly: every field, no others). */
function check(s: ConnectSchema, v: unknown, nullable: boolean, path: string): void {
  if (v === null) {
    if (nullable) return;
    throw InputError.expected(path, expectedOf(s), 'null');
  }
  if (!shapeFits(s, v)) {
    throw InputError.expected(path, `${expectedOf(s)}${nullable ? ' or null' : ''}`, found(v));
  }
  if (s.type === 'struct') checkStruct(s.fields ?? [], v as Record<string, unknown>, path);
  else if (s.type === 'array' && s.items !== undefined) {
    const items = s.items;
    (v as unknown[]).forEach((x, i) => {
      check(items, x, items.optional === true, `${path}[${i}]`);
    });
  } else if (s.type === 'map' && s.values !== undefined) {
    const values = s.values;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      check(values, x, values.optional === true, `${path}[${JSON.stringify(k)}]`);
    }
  }
}

function checkStruct(fields: readonly ConnectSchema[], o: Record<string, unknown>, path: string): void {
  const names = new Set<string>();
  for (const f of fields) {
    const name = f.field!;
    names.add(name);
    const at = `${path}.${name}`;
    if (!Object.hasOwn(o, name)) {
      throw InputError.expected(
        at,
        `${expectedOf(f)}${f.optional ? ' or null' : ''} (a column of the row)`,
        'nothing',
      );
    }
    check(f, o[name], f.optional === true, at);
  }
  for (const k of Object.keys(o)) {
    if (!names.has(k)) {
      const known = [...names].join(', ');
      throw InputError.expected(`${path}.${k}`, `only columns of the row (${known})`, 'an unknown field');
    }
  }
}

/**
 * Reads input records against the pipeline's row schema: every column present (null only where
 * the schema allows it), of the JSON type its schema gives, and no other field; then the values
 * are converted by the very converter the stream's JSON decoder compiles from that schema
 * (`decode/connect-schema.ts`), so a row scored here computes the features a streamed change of
 * it computes. Throws InputError naming the first bad value's path.
 */
export class InputReader {
  readonly columns: readonly InputColumn[];
  readonly #struct: ConnectSchema;
  readonly #convert: Leaf | undefined;

  constructor(avsc: unknown) {
    this.columns = inputColumns(avsc);
    this.#struct = { type: 'struct', fields: this.columns.map((c) => c.schema) };
    this.#convert = compileConnectSchema(this.#struct, { state: { unavailable: false } });
  }

  /** The converted row of one record (a new object; nested arrays and maps are converted in place). */
  read(input: unknown, path: string): { after: Record<string, unknown>; key: unknown } {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw InputError.expected(path, 'a record {"after": {…columns}, "key"?: …}', found(input));
    }
    const rec = input as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      if (k !== 'after' && k !== 'key') {
        throw InputError.expected(`${path}.${k}`, 'only "after" and "key" in a record', 'an unknown field');
      }
    }
    const after = rec['after'];
    const at = `${path}.after`;
    if (typeof after !== 'object' || after === null || Array.isArray(after)) {
      throw InputError.expected(at, 'an object of the row’s columns', found(after));
    }
    checkStruct(this.#struct.fields!, after as Record<string, unknown>, at);
    // A copy: the converter replaces values in place, and the caller's object stays as it was.
    let row: Record<string, unknown> = { ...(after as Record<string, unknown>) };
    if (this.#convert !== undefined) {
      try {
        row = this.#convert(row) as Record<string, unknown>;
      } catch (err) {
        if (err instanceof ValueConversionError) {
          const where = [at, ...err.path].join('.');
          throw new InputError(where, err.message);
        }
        throw err;
      }
    }
    return { after: row, key: Object.hasOwn(rec, 'key') ? rec['key'] : null };
  }
}
