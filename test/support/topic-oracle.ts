/**
 * What a topic of change events says every key must end as, read independently of streamscore: the
 * whole topic through a decoder, each key's greatest-position event (the one order-guarded sinks keep).
 */
import type { Decoder, Op } from '../../workers/core/types.js';
import { readTopic } from './stack.js';
import { topicEnd } from './topics.js';

export interface LastEvent {
  op: Op;
  position: bigint;
  /** What `detail` (of lastEventPerKey) took from the event, e.g. a column of its after-image. */
  detail?: string;
}

/** The topic's end once its producer has caught up: two equal reads `quietMs` apart. */
export async function settledTopicEnd(topic: string, quietMs = 2000): Promise<bigint> {
  let last = -1n;
  for (;;) {
    const now = await topicEnd(topic);
    if (now === last) return now;
    last = now;
    await new Promise((r) => setTimeout(r, quietMs));
  }
}

/**
 * The last event (greatest position) of every key on `topic`, from its beginning to its end at the
 * time of the call; `keyOf` names a decoded record's key, `detail` what to keep of the last event.
 * Undecodable messages and tombstones count in `failures` / `skipped`.
 */
export async function lastEventPerKey(
  topic: string,
  decoder: Decoder,
  keyOf: (root: Record<string, unknown>) => string,
  detail?: (root: Record<string, unknown>) => string,
): Promise<{ last: Map<string, LastEvent>; events: number; failures: number; skipped: number }> {
  const messages = await readTopic(topic, 120_000);
  const decoded = await decoder.decodeBatch(
    messages.map((m) => ({ topic, ...m, headers: {}, timestamp: '0' })),
  );
  const last = new Map<string, LastEvent>();
  for (const r of decoded.records) {
    const key = keyOf(r.root);
    const prev = last.get(key);
    if (prev === undefined || r.position > prev.position)
      last.set(key, { op: r.op, position: r.position, ...(detail ? { detail: detail(r.root) } : {}) });
  }
  return {
    last,
    events: decoded.records.length,
    failures: decoded.failures.length,
    skipped: decoded.skipped,
  };
}

/** A Debezium record's row key: `column` of `after`, or of `before` for a delete. */
export const debeziumRowKey =
  (column: string) =>
  (root: Record<string, unknown>): string => {
    const row = (root['after'] ?? root['before']) as Record<string, unknown> | null;
    return String(row?.[column]);
  };

export interface SinkVerdict {
  /** Keys whose last event is an upsert but that the sink lacks. */
  lost: string[];
  /** Keys the sink holds at another position than their last event's (older: stale; newer: impossible). */
  stale: string[];
  /** Keys whose last event is a delete but that the sink still holds. */
  resurrected: string[];
  /** Keys the sink holds that no event ever named. */
  extra: string[];
}

/**
 * Compares a sink's current rows (key → position as decimal text) with every key's last event: a
 * deleted key must be absent, any other key present at exactly its last event's position.
 */
export function judge(last: Map<string, LastEvent>, rows: Map<string, string>): SinkVerdict {
  const v: SinkVerdict = { lost: [], stale: [], resurrected: [], extra: [] };
  for (const [key, e] of last) {
    const have = rows.get(key);
    if (e.op === 'd') {
      if (have !== undefined) v.resurrected.push(key);
    } else if (have === undefined) v.lost.push(key);
    else if (have !== e.position.toString()) v.stale.push(key);
  }
  for (const key of rows.keys()) if (!last.has(key)) v.extra.push(key);
  return v;
}

/** `lost 0, stale 2 (e.g. 17, 40), resurrected 0, extra 0` */
export function verdictLine(v: SinkVerdict): string {
  const part = (name: string, keys: string[]) =>
    `${name} ${keys.length}${keys.length > 0 ? ` (e.g. ${keys.slice(0, 5).join(', ')})` : ''}`;
  return [
    part('lost', v.lost),
    part('stale', v.stale),
    part('resurrected', v.resurrected),
    part('extra', v.extra),
  ].join(', ');
}

/**
 * What a reader of a sink's output topic ends with when it applies the position guard (each key's
 * greatest-position message; a tombstone, positioned by its `streamscore.source.position` header,
 * deletes): key → position as decimal text.
 */
export async function outputTopicRows(topic: string): Promise<Map<string, string>> {
  const state = new Map<string, { position: bigint; deleted: boolean }>();
  for (const m of await readTopic(topic, 120_000)) {
    const key = m.key?.toString() ?? '';
    const position = BigInt(
      m.value === null
        ? (m.headers['streamscore.source.position']?.toString() ?? '0')
        : (JSON.parse(m.value.toString()) as { source_position: string }).source_position,
    );
    const prev = state.get(key);
    if (prev === undefined || position > prev.position)
      state.set(key, { position, deleted: m.value === null });
  }
  return new Map([...state].flatMap(([k, s]) => (s.deleted ? [] : [[k, s.position.toString()]])));
}
