import { silentLogger } from '../../workers/core/silent-logger.js';
import { type SnowflakeSession, snowflakeConnector } from '../../workers/sinks/snowflake/client.js';
import { snowflakeSinkConfig } from '../../workers/sinks/snowflake/config.js';
import { snowflakeConnectionFromEnv } from '../../workers/sinks/snowflake/env.js';

const env = process.env;

/** A reader's session on the stack's Snowflake (fakesnow), from the SNOWFLAKE_* variables. */
export function warehouseSession(): Promise<SnowflakeSession> {
  const config = snowflakeSinkConfig.parse({
    ...snowflakeConnectionFromEnv(env),
    table: 'UNUSED',
    key: ['K'],
    columns: { K: 'key' },
  });
  return snowflakeConnector(config, { logger: silentLogger })();
}

export const warehouseTable = (table: string) =>
  `"${env['SNOWFLAKE_DATABASE'] ?? 'STREAMSCORE'}"."${env['SNOWFLAKE_SCHEMA'] ?? 'PUBLIC'}"."${table}"`;
