import { exprTypeOfAvro } from '../spec/avro-types.js';

/** An Avro field type as Debezium emits a column (without the null branch of a nullable one). */
export type AvroFieldType = string | Record<string, unknown>;

/** One column of the source row, as the input schema will declare it. */
export interface SourceColumn {
  name: string;
  /** The Avro type Debezium emits for it (non-null branch). */
  avro: AvroFieldType;
  nullable: boolean;
  /** Allowed values of an enum column (Debezium's io.debezium.data.Enum `allowed`). */
  enumValues?: string[];
  /** Database type, for messages (`numeric(12,2)`, `timestamp with time zone`). */
  dbType: string;
}

/** What a column is to feature expressions: directly a number, or something needing an expression. */
export type ColumnKind = 'int' | 'number' | 'bool' | 'string' | 'timestamp' | 'other';

export function columnKind(c: SourceColumn): ColumnKind {
  const k = exprTypeOfAvro(c.avro as Parameters<typeof exprTypeOfAvro>[0]).kind;
  return k === 'int' || k === 'number' || k === 'bool' || k === 'string' || k === 'timestamp' ? k : 'other';
}

/** The row record (.avsc) `features.input_schema` reads: Debezium's `Value` for the table. */
export function rowSchemaOf(namespace: string, doc: string, columns: readonly SourceColumn[]): unknown {
  return {
    type: 'record',
    name: 'Value',
    namespace,
    doc,
    fields: columns.map((c) =>
      c.nullable ? { name: c.name, type: ['null', c.avro], default: null } : { name: c.name, type: c.avro },
    ),
  };
}

/** Columns of a row record (.avsc: the row, or a Debezium envelope whose `after` names it). */
export function columnsOfRowSchema(avsc: unknown): SourceColumn[] {
  type Field = { name: string; type: unknown };
  const root = avsc as { fields?: Field[] };
  let fields = root.fields ?? [];
  const after = fields.find((f) => f.name === 'after');
  if (after !== undefined && fields.some((f) => f.name === 'op')) {
    const t = Array.isArray(after.type) ? after.type.find((x) => x !== 'null') : after.type;
    const before = fields.find((f) => f.name === 'before');
    const bt = Array.isArray(before?.type) ? before.type.find((x) => x !== 'null') : before?.type;
    // Debezium defines the row record in `before`; `after` refers to it by name.
    const row = typeof t === 'object' ? t : bt;
    fields = (row as { fields?: Field[] } | undefined)?.fields ?? [];
  }
  return fields.map((f) => {
    const branches = Array.isArray(f.type) ? f.type : [f.type];
    const nonNull = branches.filter((b) => b !== 'null');
    const avro = (nonNull.length === 1 ? nonNull[0] : nonNull) as AvroFieldType;
    const params =
      typeof avro === 'object'
        ? (avro['connect.parameters'] as Record<string, string> | undefined)
        : undefined;
    const allowed = params?.['allowed'];
    const connectName = typeof avro === 'object' ? avro['connect.name'] : undefined;
    const dbType =
      typeof avro === 'string'
        ? avro
        : String(connectName ?? avro['logicalType'] ?? avro['type'] ?? 'complex');
    return {
      name: f.name,
      avro,
      nullable: branches.includes('null'),
      dbType,
      ...(allowed === undefined ? {} : { enumValues: allowed.split(',') }),
    };
  });
}
