/**
 * Helpers for the Snowflake sink tests on the stack's fakesnow (or any account named by the
 * SNOWFLAKE_* variables of `.stack/env`).
 */
import { makePosition } from '../../../workers/core/position.js';
import type { Logger, PredictionSchema } from '../../../workers/core/types.js';
import { type SnowflakeSession, snowflakeConnector } from '../../../workers/sinks/snowflake/client.js';
import { type SnowflakeSinkConfig, snowflakeSinkConfig } from '../../../workers/sinks/snowflake/config.js';
import { snowflakeConnectionFromEnv } from '../../../workers/sinks/snowflake/env.js';
import { SnowflakeSink } from '../../../workers/sinks/snowflake/sink.js';
import { schema as churnSchema, pgConfig, silentLogger } from '../../unit/sinks/fixtures.js';
import { unique } from './env.js';

const env = process.env;
const churn = pgConfig();

/** The connection part of a sink config, from SNOWFLAKE_* (defaults: the local stack's fakesnow). */
export function connection(): Record<string, unknown> {
  return snowflakeConnectionFromEnv(env);
}

/** A parsed sink config for the churn fixtures' schema, on a new table name. Overrides are raw YAML values. */
export function sfConfig(overrides: Record<string, unknown> = {}): SnowflakeSinkConfig {
  return snowflakeSinkConfig.parse({
    ...connection(),
    table: unique('scores'),
    // The churn fixtures' mapping (the Postgres sink tests use the same one).
    key: churn.key,
    columns: churn.columns,
    batch: { max_interval_ms: 20 },
    ...overrides,
  });
}

export function sfSink(
  config: SnowflakeSinkConfig,
  s: PredictionSchema = churnSchema,
  logger: Logger = silentLogger,
): SnowflakeSink {
  return new SnowflakeSink({
    config,
    schema: s,
    pipeline: 'test-pipeline',
    connect: snowflakeConnector(config, { logger }),
    logger,
  });
}

/** A session of its own, to look at tables the way a reader would. */
export function adminSession(): Promise<SnowflakeSession> {
  return snowflakeConnector(
    snowflakeSinkConfig.parse({ ...connection(), table: 'X', key: ['K'], columns: { K: 'key' } }),
    {
      logger: silentLogger,
    },
  )();
}

/** A realistic position: commit time `t` seconds after 2026-01-01, tiebreak `lsn` (≈ 1.77 × 10^35). */
export const bigPos = (t: number, lsn = 0) => makePosition(BigInt(1_767_225_600 + t) * 1_000_000n, lsn);

/** A TIMESTAMP_TZ value as the driver returns it (a Date subclass), as ISO-8601 UTC. */
export function isoOf(v: unknown): string {
  return v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();
}
