import type { PredictionRow } from '../../core/types.js';

/** `positions <min>..<max>` of rows, for error messages; undefined for no rows. */
export function positionRange(rows: readonly Pick<PredictionRow, 'position'>[]): string | undefined {
  const first = rows[0];
  if (first === undefined) return undefined;
  let min = first.position;
  let max = min;
  for (const r of rows) {
    if (r.position < min) min = r.position;
    if (r.position > max) max = r.position;
  }
  return `positions ${min}..${max}`;
}
