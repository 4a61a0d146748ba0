/** What the commit time is multiplied by: the tiebreak is the position's low 20 decimal digits. */
export const POSITION_SHIFT = 10n ** 20n;

/**
 * Ordering position: `commit time in µs × 10^20 + tiebreak`. Fits NUMERIC(38,0) in Postgres and
 * NUMBER(38,0) in Snowflake. For Debezium the tiebreak is the change's LSN (monotonic per row);
 * for plain topics the partition offset; for backfills 0 with the snapshot's transaction time, so
 * a change committed after the backfill's read always wins.
 */
export function makePosition(commitTimeUs: bigint | number, tiebreak: bigint | number = 0n): bigint {
  return BigInt(commitTimeUs) * POSITION_SHIFT + BigInt(tiebreak);
}

export function positionTimeUs(position: bigint): bigint {
  return position / POSITION_SHIFT;
}

/** The position's tiebreak: the LSN of a Debezium change, the offset of a plain record, 0 for a backfill. */
export function positionTiebreak(position: bigint): bigint {
  return position % POSITION_SHIFT;
}
