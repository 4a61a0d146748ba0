import { PipelineError } from '../core/errors.js';
import type { PredictionBatch } from '../core/types.js';

/**
 * A terminal sink error caused by the values of particular rows (a string too long for its column,
 * a byte the encoding rejects, a constraint): SQLSTATE classes 22 and 23, and Snowflake's data
 * errors, both classified `SINK_DATA`. Retrying the same rows cannot help, but the other rows of
 * the batch can still be written.
 */
export function isRowDataError(err: unknown): err is PipelineError {
  return PipelineError.is(err) && !err.retryable && err.code === 'SINK_DATA';
}

/** A row a sink rejected: its index in the batch given to `writeIsolatingRows`, and why. */
export interface RowRejection {
  index: number;
  error: PipelineError;
}

/**
 * Writes `batch`; when the write fails with a row-data error, writes the two halves separately,
 * recursively, until the rejected rows stand alone. Resolves with those rows once every other row
 * is written (one bad row in n costs about 2·log2(n) extra writes, and only when it happens).
 * Any other error rejects, as without isolation.
 */
export async function writeIsolatingRows(
  batch: PredictionBatch,
  write: (batch: PredictionBatch) => Promise<void>,
): Promise<RowRejection[]> {
  const rejected: RowRejection[] = [];
  const attempt = async (from: number, to: number, whole: boolean): Promise<void> => {
    try {
      await write(whole ? batch : { ...batch, rows: batch.rows.slice(from, to) });
    } catch (err) {
      if (!isRowDataError(err)) throw err;
      if (to - from === 1) {
        rejected.push({ index: from, error: err });
        return;
      }
      const mid = from + Math.ceil((to - from) / 2);
      await attempt(from, mid, false);
      await attempt(mid, to, false);
    }
  };
  if (batch.rows.length > 0) await attempt(0, batch.rows.length, true);
  return rejected;
}
