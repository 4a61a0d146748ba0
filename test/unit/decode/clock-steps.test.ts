import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makePosition } from '../../../workers/core/position.js';
import type { RawMessage } from '../../../workers/core/types.js';
import { type ClockStep, ClockStepWatch } from '../../../workers/decode/debezium/clock-steps.js';
import { debeziumDecoderConfig } from '../../../workers/decode/debezium/config.js';
import { createDebeziumDecoder } from '../../../workers/decode/debezium/decoder.js';
import { message } from './helpers.js';

const T0 = 1_700_000_000_000_000; // µs

describe('ClockStepWatch', () => {
  it('reports a change whose LSN is higher but whose commit time lies more than 1 s before, once', () => {
    const steps: ClockStep[] = [];
    const w = new ClockStepWatch((s) => steps.push(s));
    w.observe('t', 0, '1', 'crm', 100, T0);
    w.observe('t', 0, '2', 'crm', 200, T0 + 5_000_000);
    w.observe('t', 0, '3', 'crm', 300, T0 + 1_000_000); // 4 s back: a step
    w.observe('t', 0, '4', 'crm', 400, T0 + 1_000_001); // after the step, time goes on from there
    w.observe('t', 0, '5', 'billing', 50, T0 - 90_000_000); // another database: its own first mark
    assert.deepEqual(steps, [
      {
        topic: 't',
        partition: 0,
        offset: '3',
        lsn: 300,
        commitUs: T0 + 1_000_000,
        previousLsn: 200,
        previousCommitUs: T0 + 5_000_000,
        heldUs: T0 + 5_000_000,
      },
    ]);
  });

  it('stays quiet for interleaved commit times, replays, lower LSNs of long transactions, other partitions and other databases', () => {
    const steps: ClockStep[] = [];
    const w = new ClockStepWatch((s) => steps.push(s));
    w.observe('t', 0, '1', 'crm', 100, T0 + 2_000_000);
    w.observe('t', 0, '2', 'crm', 200, T0 + 1_500_000); // 0.5 s back: commit times interleave
    w.observe('t', 0, '3', 'crm', 150, T0 - 60_000_000); // a lower LSN: a long transaction's early change
    w.observe('t', 0, '1', 'crm', 100, T0 + 2_000_000); // a replay from an earlier offset
    w.observe('t', 1, '9', 'crm', 500, T0 - 60_000_000); // another partition: its own mark
    w.observe('u', 0, '9', 'crm', 500, T0 - 60_000_000); // another topic, same partition number
    w.observe('t', 0, '4', 'crm', 10n ** 19n, T0 + 1_400_000); // an LSN beyond 2^53 (a bigint)
    // Another database routed into the same partition: its LSNs are its own.
    w.observe('t', 0, '5', 'billing', 10n ** 19n + 1n, T0 - 60_000_000);
    w.observe('t', 0, '6', 'billing', 10n ** 19n + 2n, T0 - 59_000_000);
    w.observe('t', 0, '7', 'crm', 10n ** 19n + 10n, T0 + 1_500_000);
    assert.deepEqual(steps, []);
  });
});

describe('ClockStepWatch: the time a position takes', () => {
  it('gives a new change no earlier time than the latest held in its partition, until the clock is past it', () => {
    const w = new ClockStepWatch(undefined);
    assert.equal(w.observe('t', 0, '1', 'crm', 100, T0), T0);
    assert.equal(w.observe('t', 0, '2', 'crm', 200, T0 + 5_000_000), T0 + 5_000_000);
    // The clock steps back 4 s: the next changes hold the time reached, then the clock catches up.
    assert.equal(w.observe('t', 0, '3', 'crm', 300, T0 + 1_000_000), T0 + 5_000_000);
    assert.equal(w.observe('t', 0, '4', 'crm', 400, T0 + 2_000_000), T0 + 5_000_000);
    assert.equal(w.observe('t', 0, '5', 'crm', 500, T0 + 6_000_000), T0 + 6_000_000);
    // Interleaved commit times (under the step tolerance) are held too: WAL order wins.
    assert.equal(w.observe('t', 0, '6', 'crm', 600, T0 + 5_999_990), T0 + 6_000_000);
  });

  it('keeps its own time for a replay and for a long transaction’s lower LSN, which still raises the time held', () => {
    const w = new ClockStepWatch(undefined);
    w.observe('t', 0, '1', 'crm', 100, T0);
    w.observe('t', 0, '2', 'crm', 300, T0 + 5_000_000);
    assert.equal(w.observe('t', 0, '3', 'crm', 310, T0 + 1_000_000), T0 + 5_000_000);
    // A replay from offset 1 after a seek: the times it was first given, never more.
    assert.equal(w.observe('t', 0, '1', 'crm', 100, T0), T0);
    assert.equal(w.observe('t', 0, '3', 'crm', 310, T0 + 1_000_000), T0 + 1_000_000);
    // A long transaction's early change (LSN below the mark) committed later, at T0 + 9 s.
    assert.equal(w.observe('t', 0, '4', 'crm', 200, T0 + 9_000_000), T0 + 9_000_000);
    // A later change of its row comes after its commit: it must outrank it even if the clock stepped.
    assert.equal(w.observe('t', 0, '5', 'crm', 400, T0 + 7_000_000), T0 + 9_000_000);
  });

  it('holds times per partition, topic and database', () => {
    const w = new ClockStepWatch(undefined);
    w.observe('t', 0, '1', 'crm', 100, T0 + 60_000_000);
    assert.equal(w.observe('t', 1, '1', 'crm', 200, T0), T0);
    assert.equal(w.observe('u', 0, '1', 'crm', 200, T0), T0);
    assert.equal(w.observe('t', 0, '2', 'billing', 200, T0), T0);
    assert.equal(w.observe('t', 0, '3', 'crm', 10n ** 19n, T0), T0 + 60_000_000);
  });
});

describe('Debezium decoder: clock steps', () => {
  const env = (op: string, lsn: number, tsUs: number) =>
    JSON.stringify({
      op,
      after: { id: 1 },
      source: { ts_ms: Math.floor(tsUs / 1000), ts_us: tsUs, lsn },
      ts_ms: 1,
    });
  const at = (offset: string, value: string): RawMessage => message(value, { offset, partition: 3 });

  it('tells onClockStep of a streamed change committed 10 s "before" the previous one, and still decodes it', async () => {
    const steps: ClockStep[] = [];
    const decoder = createDebeziumDecoder(debeziumDecoderConfig.parse({}), {
      onClockStep: (s) => steps.push(s),
    });
    const out = await decoder.decodeBatch([
      at('1', env('u', 100, T0)),
      at('2', env('u', 200, T0 - 10_000_000)),
    ]);
    assert.equal(out.records.length, 2);
    assert.deepEqual(
      steps.map((s) => [s.partition, s.offset, s.lsn, s.previousLsn, s.previousCommitUs - s.commitUs]),
      [[3, '2', 200, 100, 10_000_000]],
    );
  });

  it('orders the second change after the first (the time held, its own LSN), with or without onClockStep', async () => {
    for (const deps of [{}, { onClockStep: () => {} }]) {
      const decoder = createDebeziumDecoder(debeziumDecoderConfig.parse({}), deps);
      const out = await decoder.decodeBatch([
        at('1', env('u', 100, T0)),
        at('2', env('u', 200, T0 - 10_000_000)),
      ]);
      assert.deepEqual(
        out.records.map((r) => r.position),
        [makePosition(T0, 100), makePosition(T0, 200)],
      );
      // The record still carries the commit time the source gave (the audit's event time).
      assert.equal(out.records[1]!.sourceTsMs, (T0 - 10_000_000) / 1000);
    }
  });

  it('does not compare snapshot reads (op r: the snapshot LSN and start time) nor events without an LSN', async () => {
    const steps: ClockStep[] = [];
    const decoder = createDebeziumDecoder(debeziumDecoderConfig.parse({}), {
      onClockStep: (s) => steps.push(s),
    });
    const noLsn = JSON.stringify({ op: 'u', after: { id: 1 }, source: { ts_ms: 1 }, ts_ms: 1 });
    await decoder.decodeBatch([
      at('1', env('u', 100, T0)),
      at('2', env('r', 200, T0 - 10_000_000)),
      at('3', noLsn),
    ]);
    assert.deepEqual(steps, []);
  });
});
