/**
 * The connection part of a Snowflake sink config from SNOWFLAKE_* variables, defaulting to the local
 * stack's fakesnow — the same defaults as pipelines/churn-scoring.yaml. Used by the demo and tests
 * to read the warehouse the way an analyst would.
 */
export function snowflakeConnectionFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, unknown> {
  return {
    account: env['SNOWFLAKE_ACCOUNT'] ?? 'fakesnow',
    user: env['SNOWFLAKE_USER'] ?? 'fake',
    auth: { password: env['SNOWFLAKE_PASSWORD'] ?? 'fakesnow-local' },
    database: env['SNOWFLAKE_DATABASE'] ?? 'STREAMSCORE',
    schema: env['SNOWFLAKE_SCHEMA'] ?? 'PUBLIC',
    ...(env['SNOWFLAKE_WAREHOUSE'] ? { warehouse: env['SNOWFLAKE_WAREHOUSE'] } : {}),
    host: env['SNOWFLAKE_HOST'] ?? '127.0.0.1',
    port: Number(env['SNOWFLAKE_PORT'] ?? 18085),
    protocol: env['SNOWFLAKE_PROTOCOL'] ?? 'http',
  };
}
