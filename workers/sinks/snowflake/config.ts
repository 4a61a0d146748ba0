import { z } from 'zod';
import { positiveInt, qualifiedName, secret, sqlIdentifier } from '../../spec/fields.js';
import { backfillFlag, columnMapping, onDelete } from '../columns.js';

const auth = z
  .union([
    z.strictObject({ password: secret().describe('Password of the user.') }),
    z.strictObject({
      private_key_file: z
        .string()
        .min(1)
        .describe('PEM private key file (key-pair auth, PKCS#8; encrypted or not), read at start-up.'),
      private_key_passphrase: secret().optional().describe('Passphrase of an encrypted private key.'),
    }),
    z.strictObject({
      private_key: secret().describe(
        'The PEM private key itself (key-pair auth), e.g. ${SNOWFLAKE_PRIVATE_KEY}.',
      ),
      private_key_passphrase: secret().optional().describe('Passphrase of an encrypted private key.'),
    }),
    z.strictObject({ oauth_token: secret().describe('OAuth access token (authenticator OAUTH).') }),
  ])
  .describe(
    'One of: password; private_key_file or private_key (+ private_key_passphrase) for key-pair auth; ' +
      'oauth_token. Every secret by reference (${VAR} or ${file:/path}).',
  );

export const snowflakeSinkConfig = z
  .strictObject({
    account: z
      .string()
      .min(1)
      .describe('Account identifier: orgname-accountname (or the legacy locator.region[.cloud]).'),
    user: z.string().min(1).describe('User name (login name).'),
    auth,
    role: z.string().min(1).optional().describe('Role to use; the user default role when omitted.'),
    warehouse: z
      .string()
      .min(1)
      .optional()
      .describe('Warehouse that runs the statements; the user default warehouse when omitted.'),
    database: sqlIdentifier().describe('Database of the table (an unquoted identifier: stored upper case).'),
    schema: sqlIdentifier().describe('Schema of the table (an unquoted identifier: stored upper case).'),
    table: qualifiedName(1).describe(
      'Target table inside database.schema. Like every name here it is an unquoted Snowflake identifier, ' +
        'so churn_scores means CHURN_SCORES.',
    ),
    mode: z
      .enum(['merge', 'append'])
      .default('merge')
      .describe(
        '`merge`: one current row per key, replaced only by a newer source position. `append`: an ' +
          'immutable history, one row per (key, source position, model version), deletes appended with op d.',
      ),
    key: z
      .array(sqlIdentifier())
      .min(1)
      .describe(
        'Key columns, filled from the entity key (merge: one row per key; append: part of the row identity).',
      ),
    columns: columnMapping,
    on_delete: onDelete,
    backfill: backfillFlag,
    create_table: z
      .boolean()
      .default(false)
      .describe('Create the table (and the tombstone table) at start-up when missing; needs CREATE TABLE.'),
    load: z
      .enum(['bind', 'values', 'copy'])
      .default('bind')
      .describe(
        'How a flush fills the session temp staging table that the MERGE reads. `bind` (default): one ' +
          'INSERT with array binds (above array_binding_threshold values the driver itself uploads them ' +
          'through a temporary stage); `values`: multi-row INSERT … VALUES of max_rows_per_statement rows, ' +
          'one bind per cell; `copy`: the rows as a gzipped CSV file, PUT to the staging table stage, then ' +
          'COPY INTO. See the sink README for measurements.',
      ),
    max_rows_per_statement: positiveInt()
      .max(16384)
      .default(1000)
      .describe('Rows per INSERT … VALUES statement with load `values` (Snowflake allows 16,384).'),
    array_binding_threshold: positiveInt()
      .default(65280)
      .describe(
        'Bind values in one array-bound INSERT above which the driver stages them instead of sending ' +
          'them inline (Snowflake default CLIENT_STAGE_ARRAY_BINDING_THRESHOLD).',
      ),
    statement_timeout_s: positiveInt()
      .optional()
      .describe('STATEMENT_TIMEOUT_IN_SECONDS for the sink statements; a timeout is retried.'),
    host: z
      .string()
      .min(1)
      .optional()
      .describe('Override the host (private link, emulators); default <account>.snowflakecomputing.com.'),
    port: positiveInt().optional().describe('Override the port.'),
    protocol: z.enum(['https', 'http']).default('https').describe('http only for a local emulator.'),
    batch: z
      .strictObject({
        max_rows: positiveInt().default(50000).describe('Rows per flush (one MERGE).'),
        max_bytes: positiveInt()
          .default(16 * 1024 * 1024)
          .describe('Approximate bytes of row data per flush.'),
        max_interval_ms: positiveInt()
          .default(5000)
          .describe(
            'Longest a row waits for its flush. write() resolves only after the flush, so this is ' +
              'also the added latency of a quiet partition.',
          ),
      })
      .prefault({})
      .describe(
        'Warehouse batching: each statement costs seconds on a real Snowflake, so writes from every ' +
          'partition are grouped into one flush.',
      ),
  })
  .describe(
    'Batched, order-guarded MERGE (or idempotent append) into a Snowflake table through snowflake-sdk.',
  );
export type SnowflakeSinkConfig = z.output<typeof snowflakeSinkConfig>;
export type SnowflakeAuth = SnowflakeSinkConfig['auth'];
