import type pg from 'pg';
import type { AvroFieldType, SourceColumn } from './columns.js';

/** A table's columns (in order) and primary key, read from information_schema and pg_catalog. */
export interface IntrospectedTable {
  schema: string;
  table: string;
  columns: SourceColumn[];
  primaryKey: string[];
}

interface ColumnRow {
  column_name: string;
  nullable: boolean;
  data_type: string;
  udt_name: string;
  formatted: string;
  numeric_precision: number | null;
  numeric_scale: number | null;
  datetime_precision: number | null;
  enum_values: string[] | null;
  elem_udt: string | null;
  elem_enum_values: string[] | null;
}

/** Thrown for a table that cannot be scaffolded: names the table, the column and what is unsupported. */
export class IntrospectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IntrospectionError';
  }
}

const COLUMNS_SQL = `
select a.attname as column_name, not a.attnotnull as nullable,
       c.data_type, t.typname as udt_name, format_type(a.atttypid, a.atttypmod) as formatted,
       c.numeric_precision, c.numeric_scale, c.datetime_precision,
       (select array_agg(e.enumlabel::text order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid) as enum_values,
       et.typname as elem_udt,
       (select array_agg(e.enumlabel::text order by e.enumsortorder) from pg_enum e where e.enumtypid = et.oid) as elem_enum_values
from pg_attribute a
join pg_class r on r.oid = a.attrelid
join pg_namespace n on n.oid = r.relnamespace
join pg_type t on t.oid = a.atttypid
left join pg_type et on et.oid = t.typelem and t.typcategory = 'A'
join information_schema.columns c
  on c.table_schema = n.nspname and c.table_name = r.relname and c.column_name = a.attname
where n.nspname = $1 and r.relname = $2 and a.attnum > 0 and not a.attisdropped
order by a.attnum`;

const PK_SQL = `
select a.attname as name
from pg_index i
join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
where i.indrelid = (select r.oid from pg_class r join pg_namespace n on n.oid = r.relnamespace
                    where n.nspname = $1 and r.relname = $2)
  and i.indisprimary
order by array_position(i.indkey::int2[], a.attnum)`;

/** Reads `schema.table`; throws IntrospectionError when it does not exist or has an unsupported column. */
export async function introspectTable(
  client: pg.Client,
  schema: string,
  table: string,
): Promise<IntrospectedTable> {
  const cols = (await client.query<ColumnRow>(COLUMNS_SQL, [schema, table])).rows;
  if (cols.length === 0) {
    const tables = (
      await client.query<{ t: string }>(
        `select table_schema || '.' || table_name as t from information_schema.tables
         where table_schema not in ('pg_catalog', 'information_schema') order by 1 limit 50`,
      )
    ).rows.map((r) => r.t);
    throw new IntrospectionError(
      `table ${schema}.${table} not found (or it has no columns); tables there: ${tables.join(', ') || 'none'}`,
    );
  }
  const pk = (await client.query<{ name: string }>(PK_SQL, [schema, table])).rows.map((r) => r.name);
  const columns = cols.map((c) => {
    const avro = avroOf(c, schema, table);
    const enumValues = c.enum_values ?? undefined;
    return {
      name: c.column_name,
      avro,
      nullable: c.nullable,
      dbType: c.formatted,
      ...(enumValues ? { enumValues } : {}),
    };
  });
  return { schema, table, columns, primaryKey: pk };
}

const withName = (type: string, name: string, extra: Record<string, unknown> = {}): AvroFieldType => ({
  type,
  ...extra,
  'connect.version': 1,
  'connect.name': name,
});

/**
 * The Avro type Debezium's PostgreSQL connector emits for a column with its default settings
 * (decimal.handling.mode precise, time.precision.mode adaptive, interval.handling.mode numeric,
 * binary.handling.mode bytes), as the registry shows it.
 */
function avroOf(c: ColumnRow, schema: string, table: string): AvroFieldType {
  if (c.data_type === 'ARRAY') {
    if (c.elem_udt === null) throw unsupported(c, schema, table);
    const items = scalarAvro(
      {
        ...c,
        udt_name: c.elem_udt,
        data_type: c.elem_enum_values ? 'USER-DEFINED' : c.elem_udt,
        enum_values: c.elem_enum_values,
        // An array's element type has no typmod here: numeric elements have a variable scale.
        numeric_precision: null,
        numeric_scale: null,
      },
      schema,
      table,
    );
    return { type: 'array', items: ['null', items] };
  }
  return scalarAvro(c, schema, table);
}

function scalarAvro(c: ColumnRow, schema: string, table: string): AvroFieldType {
  if (c.enum_values !== null && c.enum_values !== undefined) {
    return withName('string', 'io.debezium.data.Enum', {
      'connect.parameters': { allowed: c.enum_values.join(',') },
    });
  }
  const p = c.datetime_precision ?? 6;
  switch (c.udt_name) {
    case 'int2':
      return { type: 'int', 'connect.type': 'int16' };
    case 'int4':
      return 'int';
    case 'int8':
      return 'long';
    case 'float4':
      return 'float';
    case 'float8':
      return 'double';
    case 'bool':
      return 'boolean';
    case 'numeric':
      if (c.numeric_precision === null) {
        return {
          type: 'record',
          name: 'VariableScaleDecimal',
          namespace: 'io.debezium.data',
          fields: [
            { name: 'scale', type: 'int' },
            { name: 'value', type: 'bytes' },
          ],
          'connect.doc': 'Variable scaled decimal',
          'connect.version': 1,
          'connect.name': 'io.debezium.data.VariableScaleDecimal',
        };
      }
      return decimal(c.numeric_precision, c.numeric_scale ?? 0);
    case 'money':
      return decimal(19, 2);
    case 'text':
    case 'varchar':
    case 'bpchar':
    case 'name':
    case 'citext':
    case 'inet':
    case 'cidr':
    case 'macaddr':
      return 'string';
    case 'uuid':
      return withName('string', 'io.debezium.data.Uuid');
    case 'json':
    case 'jsonb':
      return withName('string', 'io.debezium.data.Json');
    case 'xml':
      return withName('string', 'io.debezium.data.Xml');
    case 'date':
      return withName('int', 'io.debezium.time.Date');
    case 'timestamp':
      return p <= 3
        ? withName('long', 'io.debezium.time.Timestamp')
        : withName('long', 'io.debezium.time.MicroTimestamp');
    case 'timestamptz':
      return withName('string', 'io.debezium.time.ZonedTimestamp');
    case 'time':
      return p <= 3
        ? withName('int', 'io.debezium.time.Time')
        : withName('long', 'io.debezium.time.MicroTime');
    case 'timetz':
      return withName('string', 'io.debezium.time.ZonedTime');
    case 'interval':
      return withName('long', 'io.debezium.time.MicroDuration');
    case 'bytea':
      return 'bytes';
    default:
      throw unsupported(c, schema, table);
  }
}

function decimal(precision: number, scale: number): AvroFieldType {
  return {
    type: 'bytes',
    scale,
    precision,
    'connect.version': 1,
    'connect.parameters': { scale: String(scale), 'connect.decimal.precision': String(precision) },
    'connect.name': 'org.apache.kafka.connect.data.Decimal',
    logicalType: 'decimal',
  };
}

function unsupported(c: ColumnRow, schema: string, table: string): IntrospectionError {
  return new IntrospectionError(
    `column ${schema}.${table}.${c.column_name}: type ${c.formatted} is not supported by streamscore init (expected numbers, numeric, boolean, text, uuid, json, date/time types, enums, bytea or arrays of them); give the input schema with --subject, or write it by hand`,
  );
}
