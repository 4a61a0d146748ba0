import { PipelineError } from '../core/errors.js';
import {
  CONNECT_DECIMAL,
  decimalFromJson,
  describe,
  isDecimal,
  type Leaf,
  logicalLeaf,
  rethrowAt,
  VARIABLE_SCALE_DECIMAL,
  ValueConversionError,
} from './logical.js';
import { type DecodeState, jsonPlaceholderCheck, type Placeholder, UNAVAILABLE } from './unavailable.js';

/** A Kafka Connect schema as JsonConverter writes it next to the payload (`schemas.enable=true`). */
export interface ConnectSchema {
  type: string;
  optional?: boolean;
  name?: string;
  version?: number;
  parameters?: Record<string, string>;
  field?: string;
  fields?: ConnectSchema[];
  items?: ConnectSchema;
  keys?: ConnectSchema;
  values?: ConnectSchema;
}

export interface ConvertOptions {
  /** Detect Debezium's unavailable-value placeholder in string/bytes/array fields of structs. */
  placeholder?: Placeholder | undefined;
  /** Raised when a placeholder was found (the caller resets it per message). */
  state: DecodeState;
}

/**
 * Compiles a Connect schema into a converter for the JSON-decoded value (mutated in place, since
 * it comes fresh from JSON.parse). Returns undefined when nothing in the schema needs converting.
 * Converters receive non-null values only.
 */
export function compileConnectSchema(
  schema: ConnectSchema,
  opts: ConvertOptions,
  structs: Map<readonly ConnectSchema[], { conv: Leaf | undefined; done: boolean }> = new Map(),
): Leaf | undefined {
  const { type, name } = schema;
  const scaleParam = schema.parameters?.['scale'];
  const hint = { name, scale: scaleParam === undefined ? 0 : Number(scaleParam) };
  if (type === 'bytes' && isDecimal(hint)) {
    const scale = hint.scale;
    return (v) => decimalFromJson(v, scale);
  }
  const leaf = logicalLeaf(hint);
  if (leaf !== undefined) return leaf;
  switch (type) {
    case 'struct': {
      // A struct that contains itself (only from a recursive .avsc) gets a late-bound converter.
      const fields = schema.fields ?? [];
      const known = structs.get(fields);
      if (known !== undefined)
        return known.done ? known.conv : (v) => (known.conv === undefined ? v : known.conv(v));
      const entry: { conv: Leaf | undefined; done: boolean } = { conv: undefined, done: false };
      structs.set(fields, entry);
      entry.conv = compileStruct(fields, opts, structs);
      entry.done = true;
      return entry.conv;
    }
    case 'array': {
      const item = schema.items === undefined ? undefined : compileConnectSchema(schema.items, opts, structs);
      return item === undefined ? undefined : arrayConverter(item);
    }
    case 'map': {
      const value =
        schema.values === undefined ? undefined : compileConnectSchema(schema.values, opts, structs);
      return value === undefined ? undefined : mapConverter(value);
    }
    default:
      return undefined;
  }
}

function compileStruct(
  fields: readonly ConnectSchema[],
  opts: ConvertOptions,
  structs: Map<readonly ConnectSchema[], { conv: Leaf | undefined; done: boolean }>,
): Leaf | undefined {
  const names: string[] = [];
  const convs: (Leaf | undefined)[] = [];
  const checks: (((v: unknown) => boolean) | undefined)[] = [];
  const p = opts.placeholder;
  for (const f of fields) {
    if (f.field === undefined) continue;
    const conv = compileConnectSchema(f, opts, structs);
    const check =
      p !== undefined && (f.type === 'string' || f.type === 'bytes' || f.type === 'array')
        ? jsonPlaceholderCheck(f.type, p)
        : undefined;
    if (conv === undefined && check === undefined) continue;
    names.push(f.field);
    convs.push(conv);
    checks.push(check);
  }
  if (names.length === 0) return undefined;
  const n = names.length;
  const state = opts.state;
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new ValueConversionError(`expected a struct, found ${describe(v)}`);
    }
    const o = v as Record<string, unknown>;
    for (let i = 0; i < n; i++) {
      const key = names[i]!;
      const x = o[key];
      if (x === null || x === undefined || x === UNAVAILABLE) continue;
      const check = checks[i];
      if (check?.(x)) {
        o[key] = UNAVAILABLE;
        state.unavailable = true;
        continue;
      }
      const conv = convs[i];
      if (conv !== undefined) {
        try {
          o[key] = conv(x);
        } catch (err) {
          rethrowAt(err, key);
        }
      }
    }
    return o;
  };
}

function arrayConverter(item: Leaf): Leaf {
  return (v) => {
    if (!Array.isArray(v)) throw new ValueConversionError(`expected an array, found ${describe(v)}`);
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (x !== null && x !== undefined) v[i] = item(x);
    }
    return v;
  };
}

/** Maps with string keys are JSON objects; other keys come as `[[key, value], ...]`. */
function mapConverter(value: Leaf): Leaf {
  return (v) => {
    if (Array.isArray(v)) {
      for (const pair of v) {
        if (Array.isArray(pair) && pair[1] !== null && pair[1] !== undefined) pair[1] = value(pair[1]);
      }
      return v;
    }
    if (typeof v !== 'object' || v === null)
      throw new ValueConversionError(`expected a map, found ${describe(v)}`);
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const x = o[k];
      if (x !== null && x !== undefined) o[k] = value(x);
    }
    return o;
  };
}

/** Whether a parsed JSON value looks like a Connect schema (the `schema` half of `{schema, payload}`). */
export function isConnectSchema(value: unknown): value is ConnectSchema {
  return (
    typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'
  );
}

type AvroNode =
  | string
  | AvroNode[]
  | {
      type: AvroNode;
      name?: string;
      namespace?: string;
      logicalType?: string;
      scale?: number;
      'connect.name'?: string;
      'connect.parameters'?: Record<string, string>;
      fields?: { name: string; type: AvroNode }[];
      items?: AvroNode;
      values?: AvroNode;
    };

const AVRO_PRIMITIVE: Record<string, string> = {
  null: 'null',
  boolean: 'boolean',
  int: 'int32',
  long: 'int64',
  float: 'float32',
  double: 'float64',
  bytes: 'bytes',
  string: 'string',
};

/**
 * The Connect schema a Connect-produced Avro schema (.avsc with `connect.name` annotations) stands
 * for, so schemaless JSON can be converted with the logical types a row schema declares. A schema
 * that is a whole Debezium envelope yields the schema of its `after` row.
 */
export function connectSchemaFromAvro(avsc: unknown): ConnectSchema {
  const named = new Map<string, ConnectSchema>();
  const root = toConnect(avsc as AvroNode, undefined, named);
  if (root.type === 'struct') {
    const after = root.fields?.find((f) => f.field === 'after');
    if (after !== undefined && root.fields?.some((f) => f.field === 'op')) return after;
  }
  return root;
}

function toConnect(
  node: AvroNode,
  namespace: string | undefined,
  named: Map<string, ConnectSchema>,
): ConnectSchema {
  if (typeof node === 'string') {
    const prim = AVRO_PRIMITIVE[node];
    if (prim !== undefined) return { type: prim };
    const full = node.includes('.') || namespace === undefined ? node : `${namespace}.${node}`;
    const found = named.get(full) ?? named.get(node);
    if (found === undefined) {
      throw new ValueConversionError(`Avro schema refers to unknown type ${JSON.stringify(node)}`);
    }
    return found;
  }
  if (Array.isArray(node)) {
    const branches = node.filter((b) => b !== 'null');
    if (branches.length === 1) return { ...toConnect(branches[0]!, namespace, named), optional: true };
    return { type: 'union', optional: true };
  }
  const connectName = node['connect.name'];
  const params = node['connect.parameters'];
  if (node.logicalType === 'decimal' || connectName === CONNECT_DECIMAL) {
    const scale = node.scale ?? Number(params?.['scale'] ?? 0);
    return { type: 'bytes', name: CONNECT_DECIMAL, parameters: { scale: String(scale) } };
  }
  if (typeof node.type !== 'string' || !['record', 'array', 'map', 'enum', 'fixed'].includes(node.type)) {
    const inner = toConnect(node.type, namespace, named);
    const name = connectName ?? logicalTypeName(node.logicalType) ?? inner.name;
    return name === undefined
      ? inner
      : { ...inner, name, ...(params === undefined ? {} : { parameters: params }) };
  }
  switch (node.type) {
    case 'record': {
      const ns = node.name?.includes('.')
        ? node.name.slice(0, node.name.lastIndexOf('.'))
        : (node.namespace ?? namespace);
      const full =
        node.name === undefined
          ? undefined
          : node.name.includes('.')
            ? node.name
            : ns
              ? `${ns}.${node.name}`
              : node.name;
      const out: ConnectSchema = { type: 'struct', fields: [] };
      if (connectName !== undefined) out.name = connectName;
      if (full !== undefined) named.set(full, out);
      for (const f of node.fields ?? []) out.fields!.push({ ...toConnect(f.type, ns, named), field: f.name });
      if (connectName === VARIABLE_SCALE_DECIMAL) out.name = VARIABLE_SCALE_DECIMAL;
      return out;
    }
    case 'array':
      return { type: 'array', items: toConnect(node.items ?? 'null', namespace, named) };
    case 'map':
      return { type: 'map', values: toConnect(node.values ?? 'null', namespace, named) };
    case 'enum':
      return { type: 'string' };
    default:
      return { type: 'bytes' };
  }
}

/** Avro logical types that JsonConverter-without-schemas writes as their underlying numbers. */
function logicalTypeName(logicalType: string | undefined): string | undefined {
  switch (logicalType) {
    case 'date':
      return 'org.apache.kafka.connect.data.Date';
    case 'timestamp-millis':
      return 'org.apache.kafka.connect.data.Timestamp';
    case 'timestamp-micros':
      return 'io.debezium.time.MicroTimestamp';
    case 'time-millis':
      return 'org.apache.kafka.connect.data.Time';
    case 'time-micros':
      return 'io.debezium.time.MicroTime';
    default:
      return undefined;
  }
}

/** Converter of a schemaless row from an .avsc (row record or whole envelope), if one was given. */
export function rowConverter(rowSchema: unknown, state: DecodeState): Leaf | undefined {
  if (rowSchema === undefined || rowSchema === null) return undefined;
  try {
    return compileConnectSchema(connectSchemaFromAvro(rowSchema), { state });
  } catch (err) {
    throw new PipelineError(
      `the row schema (features.input_schema) is not a usable Avro schema: ${String(err)}`,
      {
        code: 'DECODE_CONFIG',
        stage: 'decode',
        cause: err,
      },
    );
  }
}
