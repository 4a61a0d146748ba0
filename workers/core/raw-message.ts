import type { ChangeRecord, RawMessage } from './types.js';

/** The Kafka message a record came from (for the dead-letter topic): its original key, bytes and headers. */
export function rawMessageOf(r: ChangeRecord): RawMessage {
  const o = r.origin;
  return {
    topic: o?.topic ?? '',
    partition: o?.partition ?? -1,
    offset: o?.offset ?? '-1',
    key: o?.key ?? null,
    value: o?.value ?? null,
    headers: o?.headers ?? {},
    timestamp: String(r.sourceTsMs),
  };
}
