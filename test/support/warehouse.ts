import { silentLogger } from '../../workers/core/silent-logger.js';
import { type SnowflakeSession, snowflakeConnector } from '../../workers/sinks/snowflake/client.js';
import { snowflakeSinkConfig } from '../../workers/sinks/snowflake/config.js';

const env = process.env;

/** A reader's session on the stack's Snowflake (fakesnow), from the SNOWFLAKE_* variables. */
export function warehouseSession(): Promise<SnowflakeSession> {
  const config = snowflakeSinkConfig.parse({
    account: env['SNOWFLAKE_ACCOUNT'] ?? 'fakesnow',
    user: env['SNOWFLAKE_USER'] ?? 'fake',
    auth: { password: env['SNOWFLAKE_PASSWORD'] ?? 'snow' },
    database: env['SNOWFLAKE_DATABASE'] ?? 'STREAMSCORE',
    schema: env['SNOWFLAKE_SCHEMA'] ?? 'PUBLIC',
    host: env['SNOWFLAKE_HOST'] ?? '127.0.0.1',
    port: Number(env['SNOWFLAKE_PORT'] ?? 18085),
    protocol: env['SNOWFLAKE_PROTOCOL'] ?? 'http',
    table: 'UNUSED',
    key: ['K'],
    columns: { K: 'key' },
  });
  return snowflakeConnector(config, { logger: silentLogger })();
}

export const warehouseTable = (table: string) =>
  `"${env['SNOWFLAKE_DATABASE'] ?? 'STREAMSCORE'}"."${env['SNOWFLAKE_SCHEMA'] ?? 'PUBLIC'}"."${table}"`;
