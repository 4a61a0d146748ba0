/**
 * The order guard under interleavings (issue 19): a history of transactions on a few keys, with
 * commit times that tie often; Debezium's events for it (stream changes: the commit time and the
 * change's LSN; an initial snapshot: every read stamped with the snapshot's start and its LSN) and
 * backfill reads (their read transaction's start, tiebreak 0), delivered in any order. Positions
 * come from the product's own code (envelopeToRecord, makePosition as the backfill reader uses it);
 * the guard keeps the greatest position per key, as the sinks do. Whatever the delivery order, each
 * key must end at its last committed value.
 *
 * Modelled, as Postgres and Debezium behave: commit times never decrease in WAL order, and a read
 * sees exactly the transactions committed before it. Not modelled (README, Delivery guarantees:
 * known gap): a commit whose timestamp precedes its visibility.
 *
 * A clock stepping backwards gets its own property: a partition's changes, their commit times
 * stepping back now and then, decoded in the partition's order by one decoder (its clock watch)
 * with seeks back to earlier offsets (rebalances, retries) replaying them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { makePosition } from '../../../workers/core/position.js';
import type { RawMessage } from '../../../workers/core/types.js';
import { ClockStepWatch } from '../../../workers/decode/debezium/clock-steps.js';
import { envelopeToRecord } from '../../../workers/decode/debezium/envelope.js';
import { seededRandom } from '../../support/random.js';

const MSG: RawMessage = {
  topic: 't',
  partition: 0,
  offset: '0',
  key: null,
  value: null,
  headers: {},
  timestamp: '0',
};

interface Delivered {
  key: number;
  value: number;
  position: bigint;
  what: string;
}

function positionOf(envelope: Record<string, unknown>): bigint {
  const r = envelopeToRecord(envelope, null, MSG, { unavailable: false }, 'reject');
  const position = typeof r === 'object' && 'position' in r ? r.position : undefined;
  if (typeof position !== 'bigint') throw new Error(`not a record: ${String(r)}`);
  return position;
}

function history(seed: number) {
  const rnd = seededRandom(seed);
  const keys = 1 + Math.floor(rnd() * 4);
  const state = new Map<number, number>();
  for (let k = 0; k < keys; k++) state.set(k, 0);
  const events: Delivered[] = [];
  let us = 1_700_000_000_000_000;
  let lsn = 1000;
  let value = 1;
  // The initial snapshot happens at some point of the history: reads of the state then.
  const snapshotAt = Math.floor(rnd() * 12);
  const txns = 8 + Math.floor(rnd() * 12);
  for (let t = 0; t <= txns; t++) {
    if (t === snapshotAt || rnd() < 0.2) {
      // A snapshot read or a backfill read starts now: it sees every committed transaction.
      const readUs = us + (rnd() < 0.5 ? 0 : Math.floor(rnd() * 3));
      const isSnapshot = t === snapshotAt;
      for (const [k, v] of state) {
        const position = isSnapshot
          ? positionOf({
              op: 'r',
              after: { id: k, v },
              source: { ts_ms: Math.floor(readUs / 1000), ts_us: readUs, lsn },
            })
          : makePosition(BigInt(readUs), 0);
        events.push({
          key: k,
          value: v,
          position,
          what: isSnapshot ? `snapshot@${readUs}` : `backfill@${readUs}`,
        });
      }
      // The next commit is no earlier than the read's start (same µs possible).
      us = readUs;
    }
    if (t === txns) break;
    // A transaction: commit time ≥ the previous one (ties often), changes in LSN order.
    us += rnd() < 0.4 ? 0 : 1 + Math.floor(rnd() * 3);
    const changes = 1 + Math.floor(rnd() * keys);
    for (let c = 0; c < changes; c++) {
      const k = Math.floor(rnd() * keys);
      lsn += 1 + Math.floor(rnd() * 5);
      const v = value++;
      state.set(k, v);
      const position = positionOf({
        op: 'u',
        before: null,
        after: { id: k, v },
        source: { ts_ms: Math.floor(us / 1000), ts_us: us, lsn },
      });
      events.push({ key: k, value: v, position, what: `change@${us}/${lsn}` });
    }
    lsn += 1; // the commit record
  }
  return { state, events, rnd };
}

describe('order guard (positions from the decoder and the backfill reader)', () => {
  test('any delivery order ends at each key’s last committed value (2,000 histories × 5 orders)', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const { state, events, rnd } = history(seed);
      for (let order = 0; order < 5; order++) {
        const shuffled = [...events];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = Math.floor(rnd() * (i + 1));
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        const stored = new Map<number, Delivered>();
        for (const e of shuffled) {
          const s = stored.get(e.key);
          if (s === undefined || e.position > s.position) stored.set(e.key, e);
        }
        for (const [k, v] of state) {
          assert.equal(
            stored.get(k)?.value,
            v,
            `seed ${seed} order ${order}, key ${k}: kept ${stored.get(k)?.what}; events ${events
              .filter((e) => e.key === k)
              .map((e) => `${e.what}=${e.value}`)
              .join(' ')}`,
          );
        }
      }
    }
  });
});

describe('order guard under a clock stepping backwards (one partition, decoded in its order)', () => {
  test('with seeks back replaying earlier offsets, no change ever replaces a newer one and each key ends at its last committed value (2,000 histories)', () => {
    let stepped = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const rnd = seededRandom(seed);
      const keys = 1 + Math.floor(rnd() * 4);
      const last = new Map<number, number>();
      const wal: { key: number; value: number; us: number; lsn: number }[] = [];
      let us = 1_700_000_000_000_000;
      let lsn = 1000;
      let value = 1;
      const txns = 6 + Math.floor(rnd() * 14);
      for (let t = 0; t < txns; t++) {
        const r = rnd();
        // Mostly forward (ties often); now and then the clock steps back up to a minute.
        if (r < 0.15) {
          us -= 1 + Math.floor(rnd() * 60_000_000);
          stepped++;
        } else if (r > 0.5) us += 1 + Math.floor(rnd() * 3);
        const changes = 1 + Math.floor(rnd() * keys);
        for (let c = 0; c < changes; c++) {
          const k = Math.floor(rnd() * keys);
          lsn += 1 + Math.floor(rnd() * 5);
          wal.push({ key: k, value, us, lsn });
          last.set(k, value++);
        }
        lsn += 1;
      }
      const clock = new ClockStepWatch(undefined);
      const stored = new Map<number, { value: number; position: bigint; offset: number }>();
      const delivered: string[] = [];
      let offset = 0;
      let seeks = 0;
      while (offset < wal.length) {
        const w = wal[offset]!;
        const msg = { ...MSG, offset: String(offset) };
        const env = {
          op: 'u',
          before: null,
          after: { id: w.key, v: w.value },
          source: { ts_ms: Math.floor(w.us / 1000), ts_us: w.us, lsn: w.lsn, name: 'crm' },
        };
        const r = envelopeToRecord(env, null, msg, { unavailable: false }, 'reject', clock);
        const position = typeof r === 'object' && 'position' in r ? r.position : undefined;
        if (typeof position !== 'bigint') throw new Error(`not a record: ${String(r)}`);
        const rec = { position };
        delivered.push(`${offset}:k${w.key}=${w.value}@${rec.position}`);
        const s = stored.get(w.key);
        if (s === undefined || rec.position > s.position) {
          // Never an older change over a newer one, not even for a while (a replay).
          assert.ok(
            s === undefined || offset > s.offset,
            `seed ${seed}: offset ${offset} (k${w.key}=${w.value}) replaced offset ${s?.offset}; delivered ${delivered.join(' ')}`,
          );
          stored.set(w.key, { value: w.value, position: rec.position, offset });
        }
        // A seek back (a rebalance, a retried batch) now and then: earlier offsets come again.
        if (seeks < 3 && rnd() < 0.1) {
          offset = Math.floor(rnd() * (offset + 1));
          seeks++;
        } else offset++;
      }
      for (const [k, v] of last) {
        assert.equal(stored.get(k)?.value, v, `seed ${seed}, key ${k}: delivered ${delivered.join(' ')}`);
      }
    }
    assert.ok(stepped > 1000, `histories with clock steps: ${stepped}`);
  });
});
