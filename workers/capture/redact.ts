import avro from 'avsc';
import { WIRE_HEADER_BYTES } from '../decode/registry.js';
import { exactLong } from '../sinks/kafka/avro-long.js';

/** The text a redacted string column gets. */
export const REDACTED = '[redacted]';

/** A column that cannot be redacted without changing the event's shape (non-null, not text). */
export class RedactionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedactionError';
  }
}

type Json = Record<string, unknown>;

interface ConnectField {
  field?: string;
  type?: string;
  optional?: boolean;
  fields?: ConnectField[];
}

/**
 * Redacts `columns` of a JsonConverter message (with `{schema, payload}` or schemaless) in place:
 * in `before` and `after` of an envelope, or at the top of a key struct. A string column becomes
 * REDACTED, any other nullable one null; `typeOf` says a column's type when the message carries no
 * schema (from the input schema). Returns the columns it found.
 */
export function redactJson(
  message: unknown,
  columns: ReadonlySet<string>,
  typeOf: (column: string) => { string: boolean; nullable: boolean } | undefined,
  where: string,
): void {
  if (typeof message !== 'object' || message === null) return;
  const m = message as Json;
  const withSchema = 'schema' in m && 'payload' in m;
  const payload = (withSchema ? m['payload'] : m) as Json | null;
  if (typeof payload !== 'object' || payload === null) return;
  const schema = withSchema ? (m['schema'] as ConnectField | null) : null;
  const rowFields = (name: string): ConnectField[] | undefined =>
    schema?.fields?.find((f) => f.field === name)?.fields;
  const redactRow = (row: unknown, fields: ConnectField[] | undefined) => {
    if (typeof row !== 'object' || row === null) return;
    const r = row as Json;
    for (const col of columns) {
      if (!(col in r) || r[col] === null) continue;
      const f = fields?.find((x) => x.field === col);
      const t = f ? { string: f.type === 'string', nullable: f.optional === true } : typeOf(col);
      r[col] = redactedValue(col, t, where);
    }
  };
  const isEnvelope = 'op' in payload && ('after' in payload || 'before' in payload);
  if (isEnvelope) {
    redactRow(payload['before'], rowFields('before'));
    redactRow(payload['after'], rowFields('after'));
  } else redactRow(payload, schema?.fields);
}

function redactedValue(
  col: string,
  t: { string: boolean; nullable: boolean } | undefined,
  where: string,
): unknown {
  if (t?.string) return REDACTED;
  if (t?.nullable) return null;
  throw new RedactionError(
    `${where}: cannot redact column ${col}: ${t === undefined ? 'its type is unknown (no schema in the message, none in features.input_schema)' : 'it is neither text nor nullable'}; redact text or nullable columns only`,
  );
}

/** Redacts an Avro (Confluent-framed) message by decoding it with its writer schema and encoding it again. */
export function redactAvro(buf: Buffer, writer: string, columns: ReadonlySet<string>, where: string): Buffer {
  // Longs exact (Debezium's source.ts_ns is past 2^53): the bytes come back as they were.
  const type = avro.Type.forSchema(JSON.parse(writer) as avro.Schema, {
    wrapUnions: false,
    registry: { long: exactLong },
  });
  const datum = type.fromBuffer(buf.subarray(WIRE_HEADER_BYTES)) as Json;
  const schema = JSON.parse(writer) as { fields?: { name: string; type: unknown }[] };
  const fieldsOf = (t: unknown): { name: string; type: unknown }[] | undefined => {
    const branches = Array.isArray(t) ? t : [t];
    const rec = branches.find((b) => typeof b === 'object' && b !== null && (b as Json)['type'] === 'record');
    return (rec as { fields?: { name: string; type: unknown }[] } | undefined)?.fields;
  };
  const before = schema.fields?.find((f) => f.name === 'before');
  const rowFields = fieldsOf(before?.type) ?? schema.fields ?? [];
  const isEnvelope = schema.fields?.some((f) => f.name === 'op') === true;
  const redactRow = (row: unknown) => {
    if (typeof row !== 'object' || row === null) return;
    const r = row as Json;
    for (const col of columns) {
      if (!(col in r) || r[col] === null) continue;
      const f = rowFields.find((x) => x.name === col);
      const branches = Array.isArray(f?.type) ? (f!.type as unknown[]) : [f?.type];
      const isString = branches.some(
        (b) => b === 'string' || (typeof b === 'object' && b !== null && (b as Json)['type'] === 'string'),
      );
      r[col] = redactedValue(
        col,
        f ? { string: isString, nullable: branches.includes('null') } : undefined,
        where,
      );
    }
  };
  if (isEnvelope) {
    redactRow(datum['before']);
    redactRow(datum['after']);
  } else redactRow(datum);
  return Buffer.concat([buf.subarray(0, WIRE_HEADER_BYTES), type.toBuffer(datum)]);
}
