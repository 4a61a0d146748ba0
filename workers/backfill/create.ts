import type { Pipeline } from '../spec/pipeline-schema.js';
import type { PostgresTableSourceConfig } from './postgres/config.js';
import { PostgresTableReader } from './postgres/reader.js';
import type { TableReader } from './reader.js';

export type BackfillSpec = NonNullable<Pipeline['spec']['backfill']>;

/** The table reader of a pipeline's `backfill.source` (one implementation per table-source type). */
export function createTableReader(
  spec: BackfillSpec,
  options: { pipeline: string; poolSize?: number },
): TableReader {
  const source = spec.source as { postgres?: PostgresTableSourceConfig };
  if (source.postgres) return new PostgresTableReader(source.postgres, options);
  throw new Error(`backfill.source: no reader for ${Object.keys(spec.source).join(', ')}`);
}
