import { PipelineError } from '../../core/errors.js';
import { classifyPostgresError, postgresErrorDetail } from '../../sinks/postgres/errors.js';

/**
 * A reader error as a PipelineError of stage `backfill`, classified by SQLSTATE like the Postgres
 * sink's errors (same classes, `BACKFILL_` codes): BACKFILL_UNAVAILABLE, BACKFILL_CONFLICT and
 * BACKFILL_OVERLOADED are retried; BACKFILL_TLS, BACKFILL_AUTH, BACKFILL_PERMISSION, BACKFILL_SCHEMA (missing
 * table or column, a `where` that does not parse) and BACKFILL_DATA fail the chunk for good.
 */
export function readerError(
  err: unknown,
  where: { table: string; action: string; pipeline?: string | undefined },
): PipelineError {
  if (PipelineError.is(err)) return err;
  const k = classifyPostgresError(err);
  return new PipelineError(`postgres ${where.table}: ${where.action} failed${postgresErrorDetail(err, k)}`, {
    code: k.code.replace(/^SINK_/, 'BACKFILL_'),
    stage: 'backfill',
    retryable: k.retryable,
    ...(where.pipeline === undefined ? {} : { pipeline: where.pipeline }),
    context: { table: where.table, sqlstate: k.sqlstate },
    cause: err,
  });
}
