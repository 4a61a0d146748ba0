import { z } from 'zod';
import { postgresConnectionFields } from '../../sinks/postgres/connection.js';
import { qualifiedName, secret, sqlIdentifier } from '../../spec/fields.js';

export const postgresTableSourceConfig = z
  .strictObject({
    url: secret().describe(
      'Connection URL of the source database. TLS is set with tls, never with sslmode here.',
    ),
    ...postgresConnectionFields,
    table: qualifiedName(2).describe('Source table, e.g. crm.customers.'),
    key: z
      .union([sqlIdentifier(), z.array(sqlIdentifier()).min(1)])
      .transform((k) => (typeof k === 'string' ? [k] : k))
      .describe('Key column(s) for keyset pagination.'),
    updated_at: sqlIdentifier().optional().describe('Column for --since windows.'),
  })
  .describe('Read a Postgres table in key-range chunks (keyset pagination, never OFFSET).');
export type PostgresTableSourceConfig = z.output<typeof postgresTableSourceConfig>;
