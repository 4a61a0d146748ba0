import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatDuration,
  formatProgress,
  formatStatus,
  RateMeter,
} from '../../../workers/backfill/progress.js';
import type { RunStatus } from '../../../workers/backfill/queues.js';

function status(overrides: Partial<RunStatus> = {}): RunStatus {
  return {
    runId: 'churn-scoring-20261124T150000-ab12',
    pipeline: 'churn-scoring',
    table: 'crm.customers',
    state: 'running',
    trigger: 'cli',
    createdAt: Date.UTC(2026, 10, 24, 15),
    finishedAt: undefined,
    cancelledAt: undefined,
    chunks: { total: 20, done: 9, failed: 0, active: 2, pending: 9 },
    rows: { planned: 200_000, done: 90_000, inFlight: 0 },
    deadLettered: 0,
    failures: [],
    reason: undefined,
    ...overrides,
  };
}

describe('backfill progress', () => {
  it('durations', () => {
    assert.equal(formatDuration(42), '42s');
    assert.equal(formatDuration(185), '3m05s');
    assert.equal(formatDuration(3720), '1h02m');
    assert.equal(formatDuration(Number.NaN), '?');
  });

  it('rate over a sliding window', () => {
    const m = new RateMeter(10_000);
    m.add(0, 0);
    assert.equal(m.rate(), undefined);
    m.add(1000, 5000);
    assert.equal(m.rate(), 5000);
    for (let t = 2000; t <= 30_000; t += 1000) m.add(t, 5000 + (t - 1000) * 2);
    assert.equal(m.rate(), 2000);
  });

  it('the live line: bar, chunks, rows, rate, ETA, failures', () => {
    assert.equal(
      formatProgress(status(), 11_000),
      '[#########-----------]  9/20 chunks  90,000/200,000 rows  11,000 rows/s  ETA 10s  0 failed',
    );
    assert.equal(
      formatProgress(
        status({ state: 'failed', chunks: { total: 20, done: 19, failed: 1, active: 0, pending: 0 } }),
        undefined,
      ),
      '[####################]  20/20 chunks  90,000/200,000 rows  failed  1 failed',
    );
  });

  it('status text names failed chunks with their reasons', () => {
    const text = formatStatus(
      status({
        state: 'failed',
        reason: '1 of 20 chunks failed; first: SINK_SCHEMA: …',
        finishedAt: Date.UTC(2026, 10, 24, 15, 0, 30),
        failures: [{ index: 7, range: '(70000, 80000]', reason: 'SINK_SCHEMA: relation does not exist' }],
      }),
    );
    assert.match(text, /state {5}failed: 1 of 20 chunks failed/);
    assert.match(text, /30s in all/);
    assert.match(text, /failed chunk 7 \(70000, 80000\]: SINK_SCHEMA: relation does not exist/);
  });
});
