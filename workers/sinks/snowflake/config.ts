import { z } from 'zod';
import { positiveInt, qualifiedName, secret, sqlIdentifier } from '../../spec/fields.js';
import { columnMapping, onDelete } from '../columns.js';

const auth = z
  .union([
    z.strictObject({ password: secret() }),
    z.strictObject({
      private_key_file: z.string().min(1).describe('PEM private key file (key-pair auth).'),
      private_key_passphrase: secret().optional(),
    }),
    z.strictObject({ oauth_token: secret() }),
  ])
  .describe('One of: password, private_key_file (+ passphrase), oauth_token — each by reference.');

export const snowflakeSinkConfig = z
  .strictObject({
    account: z.string().min(1).describe('Account identifier (orgname-account).'),
    user: z.string().min(1).describe('User name.'),
    auth,
    role: z.string().optional().describe('Role to use.'),
    warehouse: z.string().optional().describe('Warehouse that runs the statements.'),
    database: sqlIdentifier().describe('Database.'),
    schema: sqlIdentifier().describe('Schema.'),
    table: qualifiedName(1).describe('Target table inside database.schema.'),
    mode: z.enum(['merge', 'append']).default('merge').describe('One current row per key, or full history.'),
    key: z.array(sqlIdentifier()).min(1).describe('Key columns (merge mode).'),
    columns: columnMapping,
    on_delete: onDelete,
    create_table: z.boolean().default(false).describe('Create the table when missing.'),
    host: z.string().optional().describe('Override the host (emulators, private link).'),
    port: positiveInt().optional().describe('Override the port.'),
    protocol: z.enum(['https', 'http']).default('https').describe('http only for a local emulator.'),
    batch: z
      .strictObject({
        max_rows: positiveInt().default(50000).describe('Rows per statement.'),
        max_bytes: positiveInt()
          .default(16 * 1024 * 1024)
          .describe('Bytes per statement.'),
        max_interval_ms: positiveInt().default(5000).describe('Longest a row waits before a flush.'),
      })
      .prefault({})
      .describe('Warehouse batching: each statement costs seconds on a real Snowflake.'),
  })
  .describe('Batched MERGE (or append) into a Snowflake table through snowflake-sdk.');
export type SnowflakeSinkConfig = z.output<typeof snowflakeSinkConfig>;
