import type { PostgresConnectionConfig } from '../sinks/postgres/connection.js';
import type { Pipeline } from './pipeline-schema.js';

/**
 * The connection of a pipeline's first postgres sink (url, password, TLS): where its shadow
 * comparison table (by default) and its audit log live, reached with the same settings as the sink.
 */
export function firstPostgres(p: Pipeline): PostgresConnectionConfig | undefined {
  for (const s of p.spec.sinks) {
    const pg = (s as { postgres?: PostgresConnectionConfig }).postgres;
    if (pg) return { url: pg.url, password: pg.password, tls: pg.tls };
  }
  return undefined;
}
