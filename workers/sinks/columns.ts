import { z } from 'zod';
import { IDENT_PATTERN } from '../spec/fields.js';

/**
 * How a sink column is filled. A value is a prediction field name (from `model.outputs`), `key`
 * (or `key.<part>` for composite keys), `feature.<name>`, or one of the metadata values below.
 */
export const METADATA_REFS = [
  'model.name',
  'model.version',
  'model.sha256',
  'source.position',
  'scored_at',
  'op',
] as const;

export const columnMapping = z
  .record(
    z.string().regex(IDENT_PATTERN, { message: 'a SQL identifier for the column name' }),
    z.string().min(1),
  )
  .describe(
    'Column name → value: a model output field, `key`, `key.<part>`, `feature.<name>`, ' +
      METADATA_REFS.map((r) => `\`${r}\``).join(', ') +
      '. Metadata columns model_name, model_version, source_position and scored_at are always written.',
  );

export const onDelete = z
  .enum(['delete', 'mark', 'ignore'])
  .default('delete')
  .describe('On a CDC delete: remove the prediction row, set its deleted_at, or leave it.');

/** `backfill` of every sink: whether backfill runs write to it too (the stream always does). */
export const backfillFlag = z
  .boolean()
  .default(true)
  .describe(
    'Write backfilled predictions to this sink too (default true: a backfill writes every sink, like ' +
      'the stream). false: only the stream writes here, e.g. a Kafka sink a nightly re-score must not ' +
      'flood with a message per row of the table.',
  );

/** Whether backfill runs write to the sink of this `spec.sinks` entry (its `backfill` flag, true unless set false). */
export function backfillsTo(entry: object): boolean {
  const config = Object.values(entry).find((c) => c !== undefined) as { backfill?: boolean } | undefined;
  return config?.backfill !== false;
}
