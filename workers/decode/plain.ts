import { makePosition } from '../core/position.js';
import type { Decoder, RawMessage } from '../core/types.js';
import { decodeError } from './failure.js';
import { batchDecoder, originOf, type PayloadCodec, type RecordResult } from './payload.js';

/**
 * Plain (non-CDC) records: `root` is the record's own fields plus `key` (the decoded message key;
 * when the message has no key, `key_field`'s value, else the record's own `key` field if any).
 * Every record is op 'c', positioned by Kafka timestamp (µs) then partition offset.
 */
export function plainDecoder(codec: PayloadCodec, keyField: string | undefined): Decoder {
  return batchDecoder(codec, (row, key, msg): RecordResult => {
    if (row === null) return 'skip';
    if (typeof row !== 'object' || Array.isArray(row)) {
      const found = Array.isArray(row) ? 'an array' : typeof row;
      return decodeError(codec.failureCode, msg, `expected a record (object) in the value, found ${found}`);
    }
    const root = plainRoot(row as Record<string, unknown>, key, keyField);
    const tsMs = kafkaTimestampMs(msg);
    return {
      op: 'c',
      root,
      position: makePosition(tsMs * 1000, offsetOf(msg)),
      sourceTsMs: tsMs,
      origin: originOf(msg),
    };
  });
}

function kafkaTimestampMs(msg: RawMessage): number {
  const ms = Number(msg.timestamp);
  return Number.isSafeInteger(ms) && ms >= 0 ? ms : 0;
}

function offsetOf(msg: RawMessage): bigint {
  try {
    return BigInt(msg.offset);
  } catch {
    return 0n;
  }
}

/**
 * A plain record's root (mutated in place): its fields plus `key`, the message key when there is
 * one, else `key_field`'s value, else the record's own `key` field (null when it has none).
 */
export function plainRoot(
  row: Record<string, unknown>,
  key: unknown,
  keyField: string | undefined,
): Record<string, unknown> {
  if (key !== null && key !== undefined) row['key'] = key;
  else if (keyField !== undefined) row['key'] = row[keyField] ?? null;
  else if (!('key' in row)) row['key'] = null;
  return row;
}
