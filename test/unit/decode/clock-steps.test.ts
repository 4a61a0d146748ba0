import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
