import { PostgresTableReader } from '../backfill/postgres/reader.js';
import { keyText } from '../backfill/postgres/sql.js';
import { errorMessage } from '../core/errors.js';
import type { DecodedBatch, Logger } from '../core/types.js';
import { fillUnavailable } from '../features/unavailable-lookup.js';
import type { CheckedSpec } from '../spec/checks.js';
import type { Pipeline } from '../spec/pipeline-schema.js';

/**
 * The CDC source table as the stream worker sees it (the backfill's `source.postgres`): where
 * `unavailable_value: lookup` reads unchanged TOASTed columns, and what the start-up check reads
 * to warn about REPLICA IDENTITY DEFAULT pitfalls.
 */
export interface SourceTable {
  /** Set under `unavailable_value: lookup`: fills a decoded batch's unavailable columns. */
  fill: ((batch: DecodedBatch) => Promise<unknown>) | undefined;
  /** Logs a warning for each way the table's replica identity makes this pipeline's scores wrong. */
  check(): Promise<void>;
  close(): Promise<void>;
}

export function sourceTable(
  p: Pipeline,
  checked: CheckedSpec,
  pipeline: string,
  logger: Logger,
): SourceTable | undefined {
  const dbz = p.spec.decode.debezium;
  const src = p.spec.backfill?.source.postgres;
  if (dbz === undefined || src === undefined) return undefined;
  const reader = new PostgresTableReader(src, { pipeline, poolSize: 1 });
  const lookup = { keyColumns: src.key, lookupColumns: reader.lookupColumns.bind(reader), keyText };
  return {
    fill: dbz.unavailable_value === 'lookup' ? (b) => fillUnavailable(b, lookup, pipeline) : undefined,
    async check() {
      let identity: Awaited<ReturnType<PostgresTableReader['identity']>>;
      try {
        identity = await reader.identity();
      } catch (err) {
        logger.debug(
          { table: src.table, error: errorMessage(err) },
          'Could not read the source table’s replica identity.',
        );
        return;
      }
      if (identity.replicaIdentity === 'f') return;
      const read = columnsRead(checked.features.flatMap((f) => f.expr.fields));
      const toasted = read.filter((c) => identity.toastable.has(c));
      // Short values are never stored out of line: only a table whose TOAST relation holds data risks it.
      const lenient = dbz.unavailable_value === 'before' || dbz.unavailable_value === 'null';
      if (toasted.length > 0 && lenient && identity.toastBytes > 0) {
        logger.warn(
          { pipeline, table: src.table, columns: toasted, unavailable_value: dbz.unavailable_value },
          `Features read column(s) ${toasted.join(', ')} that Postgres may TOAST (${src.table} holds out-of-line values), and it is not REPLICA IDENTITY FULL: an update that leaves them unchanged carries Debezium's placeholder, which is scored as null. Set decode.debezium.unavailable_value: lookup, or REPLICA IDENTITY FULL.`,
        );
      }
      const keyRead = columnsRead(checked.key?.fields ?? []);
      if (p.spec.features.delete_key === 'before') {
        logger.warn(
          { pipeline, table: src.table },
          `features.delete_key: before needs REPLICA IDENTITY FULL; under ${src.table}'s identity a delete's before image has defaults in its non-key columns.`,
        );
      } else if (keyRead.some((c) => !src.key.includes(c))) {
        logger.warn(
          { pipeline, table: src.table, key_columns: src.key, read: keyRead },
          `The key expression reads column(s) outside ${src.table}'s key (${src.key.join(', ')}): its deletes cannot be keyed and go to the dead-letter topic.`,
        );
      }
    },
    close: () => reader.close(),
  };
}

/** Row columns (`after.x`, `before.x`) among expression field paths, each once. */
function columnsRead(fields: readonly (readonly string[])[]): string[] {
  return [
    ...new Set(
      fields.filter((f) => (f[0] === 'after' || f[0] === 'before') && f[1] !== undefined).map((f) => f[1]!),
    ),
  ];
}
