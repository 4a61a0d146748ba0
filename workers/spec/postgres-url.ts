import type { Secret } from '../core/secret.js';
import type { Pipeline } from './pipeline-schema.js';

/**
 * The url of a pipeline's first postgres sink: where its shadow comparison table (by default) and
 * its audit log live.
 */
export function firstPostgresUrl(p: Pipeline): Secret | undefined {
  for (const s of p.spec.sinks) {
    const pg = (s as { postgres?: { url: Secret } }).postgres;
    if (pg) return pg.url;
  }
  return undefined;
}
