import { z } from 'zod';
import { positiveInt, qualifiedName, secret, sqlIdentifier } from '../../spec/fields.js';
import { backfillFlag, columnMapping, onDelete } from '../columns.js';
import { postgresConnectionFields } from './connection.js';

export const postgresSinkConfig = z
  .strictObject({
    url: secret().describe(
      'Connection URL, e.g. ${DATABASE_URL}; treated as a secret. TLS is set with tls, never with sslmode here.',
    ),
    ...postgresConnectionFields,
    table: qualifiedName(2).describe('Target table, schema-qualified: ml.customer_churn_scores.'),
    key: z.array(sqlIdentifier()).min(1).describe('Primary-key columns (the conflict target).'),
    columns: columnMapping,
    on_delete: onDelete,
    create_table: z
      .boolean()
      .default(false)
      .describe('Create the table from the spec at start-up when missing.'),
    write_mode: z
      .enum(['auto', 'copy', 'unnest', 'values'])
      .default('auto')
      .describe(
        'Bulk path of the order-guarded upsert. `auto` (default) uses `unnest` for writes under 4,000 ' +
          'rows and `copy` from there (measured: unnest is faster up to ~1,000-row writes, copy ~20 % ' +
          'faster at 10,000). `copy` streams the batch with COPY into a session temp table, then runs ' +
          'one INSERT … SELECT … ON CONFLICT from it; `unnest` sends one array parameter per column ' +
          '(one statement per write, no temp table, e.g. without the TEMP privilege; a write of upserts ' +
          'only, without the delete guard, is that single statement, no transaction around it); ' +
          '`values` sends multi-row INSERT … VALUES statements of max_rows_per_statement rows.',
      ),
    max_rows_per_statement: positiveInt()
      .max(5000)
      .default(1000)
      .describe('Rows per INSERT statement in write_mode `values` (Postgres allows 65535 parameters).'),
    prepared_statements: z
      .boolean()
      .default(true)
      .describe(
        'Run the upserts and deletes as named (server-side prepared) statements: parsed once per ' +
          'connection and planned once, measured −0.3 µs per row (−1.5 with an audit log). Set false ' +
          'behind a transaction-pooling proxy that does not track prepared statements (PgBouncer before ' +
          '1.21, or without max_prepared_statements): there a named statement fails with "prepared ' +
          'statement … does not exist".',
      ),
    pool_size: positiveInt().default(4).describe('Connections in the pool.'),
    backfill: backfillFlag,
  })
  .describe('Order-guarded upsert into a Postgres table: a row is only replaced by a newer source position.');
export type PostgresSinkConfig = z.output<typeof postgresSinkConfig>;
