import type { ColumnType } from './column-map.js';

export type SqlDialect = 'postgres' | 'snowflake';

/** Column types used in generated DDL, per dialect. Positions fit NUMERIC(38,0) / NUMBER(38,0). */
const DDL_TYPES: Record<SqlDialect, Record<ColumnType, string>> = {
  postgres: {
    float: 'double precision',
    int: 'bigint',
    string: 'text',
    bool: 'boolean',
    position: 'numeric(38,0)',
    timestamp: 'timestamp with time zone',
  },
  snowflake: {
    float: 'FLOAT',
    int: 'NUMBER(38,0)',
    string: 'VARCHAR',
    bool: 'BOOLEAN',
    position: 'NUMBER(38,0)',
    timestamp: 'TIMESTAMP_TZ',
  },
};

/** The SQL type a column of this logical type is created with. */
export function sqlType(type: ColumnType, dialect: SqlDialect = 'postgres'): string {
  return DDL_TYPES[dialect][type];
}

/** Short Postgres cast names, for `$1::float8[]` array parameters and typed VALUES rows. */
const PG_CASTS: Record<ColumnType, string> = {
  float: 'float8',
  int: 'int8',
  string: 'text',
  bool: 'bool',
  position: 'numeric',
  timestamp: 'timestamptz',
};

export function pgCast(type: ColumnType): string {
  return PG_CASTS[type];
}
