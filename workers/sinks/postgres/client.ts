import knex, { type Knex } from 'knex';
import type { PostgresSinkConfig } from './config.js';
import { postgresClientOptions } from './connection.js';

/**
 * Creates the knex instance (pool of pg connections) for a Postgres sink. Called once by whoever
 * builds the sink; the instance is passed in, never kept in a module. `destroy()` it on shutdown.
 * Its password and TLS settings come from the config (see connection.ts), never from the url.
 */
export function createPostgresKnex(
  config: Pick<PostgresSinkConfig, 'url' | 'pool_size'> &
    Partial<Pick<PostgresSinkConfig, 'password' | 'tls'>>,
  options: { applicationName?: string } = {},
): Knex {
  return knex({
    client: 'pg',
    connection: {
      ...postgresClientOptions(config),
      application_name: options.applicationName ?? 'streamscore',
    },
    pool: { min: 0, max: config.pool_size },
    acquireConnectionTimeout: 30_000,
    // knex prints pool errors (a stack trace per failed connection attempt) to the console; every
    // one of them also fails the query that waited, which the caller reports through the logger.
    log: { warn() {}, error() {}, deprecate() {}, debug() {} },
  });
}
