/**
 * 64-bit integers, exactly. Everywhere in streamscore an int64 value (a Debezium/Avro long, a
 * JSON integer literal, a Postgres int8, an integral NUMERIC/Decimal) is a `number` while it is a
 * safe integer (|v| ≤ 2^53 − 1) and a `bigint` beyond: one canonical form per value, so keys compare,
 * hash and group the same whichever path read them, and the common case stays a plain number.
 * Only where a value becomes a model feature (a Float32Array cell) may it be rounded.
 */

/** The canonical form of an integer given as decimal text (optionally signed); no validation. */
export function int64FromText(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

/** The canonical form of a bigint: a number when it is safe. */
export function int64FromBigInt(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/** JSON.stringify replacer: bigints as their decimal text (JSON has no exact form for them). */
export function bigintAsText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/**
 * An entity key's exact text: a string as it is, an integer's digits (the same for a number and a
 * bigint of equal value), a composite key as JSON with int64s as digits. Canary buckets, shadow
 * pairs and audit records all identify a key by it.
 */
export function exactKeyText(key: unknown): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' || typeof key === 'bigint') return key.toString();
  return JSON.stringify(key, bigintAsText) ?? String(key);
}
