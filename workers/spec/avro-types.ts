import type { ExprType } from '../expr/index.js';

type AvroType =
  | string
  | {
      type: AvroType;
      logicalType?: string;
      name?: string;
      connect?: { name?: string };
      'connect.name'?: string;
      fields?: { name: string; type: AvroType }[];
      items?: AvroType;
    }
  | AvroType[];

const TIME_NAMES = new Set([
  'io.debezium.time.Date',
  'io.debezium.time.Timestamp',
  'io.debezium.time.MicroTimestamp',
  'io.debezium.time.NanoTimestamp',
  'io.debezium.time.ZonedTimestamp',
  'org.apache.kafka.connect.data.Date',
  'org.apache.kafka.connect.data.Timestamp',
]);

/** Maps an Avro (or Debezium-annotated Avro) field type to the expression language's types. */
export function exprTypeOfAvro(t: AvroType): ExprType {
  if (Array.isArray(t)) {
    const nonNull = t.filter((x) => x !== 'null');
    return nonNull.length === 1 ? exprTypeOfAvro(nonNull[0]!) : { kind: 'unknown' };
  }
  if (typeof t === 'string') {
    switch (t) {
      case 'int':
      case 'long':
        return { kind: 'int' };
      case 'float':
      case 'double':
        return { kind: 'number' };
      case 'boolean':
        return { kind: 'bool' };
      case 'string':
        return { kind: 'string' };
      case 'null':
        return { kind: 'null' };
      default:
        return { kind: 'unknown' };
    }
  }
  const connectName = t['connect.name'] ?? t.connect?.name ?? t.name;
  if (
    t.logicalType === 'decimal' ||
    connectName === 'org.apache.kafka.connect.data.Decimal' ||
    connectName === 'io.debezium.data.VariableScaleDecimal'
  ) {
    return { kind: 'number' };
  }
  if (
    (connectName !== undefined && TIME_NAMES.has(connectName)) ||
    [
      'date',
      'timestamp-millis',
      'timestamp-micros',
      'local-timestamp-millis',
      'local-timestamp-micros',
    ].includes(t.logicalType ?? '')
  ) {
    return { kind: 'timestamp' };
  }
  if (connectName === 'io.debezium.data.Uuid' || t.logicalType === 'uuid') return { kind: 'string' };
  return exprTypeOfAvro(t.type);
}

export interface RowTypes {
  fields: Map<string, ExprType>;
}

/** Record schemas by name (short and namespace-qualified) anywhere in a schema. */
function namedRecords(schema: unknown, out = new Map<string, unknown>(), ns?: string): Map<string, unknown> {
  if (Array.isArray(schema)) {
    for (const s of schema) namedRecords(s, out, ns);
    return out;
  }
  if (typeof schema !== 'object' || schema === null) return out;
  const s = schema as { type?: unknown; name?: string; namespace?: string; fields?: { type: unknown }[] };
  const namespace = s.namespace ?? ns;
  if (s.type === 'record' && typeof s.name === 'string') {
    out.set(s.name, s);
    if (namespace) out.set(`${namespace}.${s.name}`, s);
  }
  for (const f of s.fields ?? []) namedRecords(f.type, out, namespace);
  if (typeof s.type === 'object') namedRecords(s.type, out, namespace);
  return out;
}

/** Field types of a row record schema (.avsc). Accepts the row record itself or a Debezium envelope. */
export function rowTypesFromAvsc(json: unknown): RowTypes {
  const schema = json as { type?: string; fields?: { name: string; type: AvroType }[] };
  let fields = schema.fields ?? [];
  const after = fields.find((f) => f.name === 'after');
  if (after && fields.some((f) => f.name === 'op')) {
    const t = Array.isArray(after.type) ? after.type.find((x) => x !== 'null') : after.type;
    // Debezium's registered envelope defines the row record in `before`; `after` names it.
    const row: unknown = typeof t === 'string' ? (namedRecords(json).get(t) ?? t) : t;
    fields = (row as { fields?: { name: string; type: AvroType }[] }).fields ?? [];
  }
  return { fields: new Map(fields.map((f) => [f.name, exprTypeOfAvro(f.type)])) };
}
