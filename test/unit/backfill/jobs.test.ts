import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSince, resolveFilter } from '../../../workers/backfill/filter.js';
import {
  checkRunId,
  chunkJobId,
  newRunId,
  queueNames,
  scheduledRunId,
} from '../../../workers/backfill/jobs.js';
import { describeRange, rangesFromBoundaries } from '../../../workers/backfill/reader.js';
import { backfillSpec } from '../../integration/backfill/support.js';

const now = new Date('2026-11-24T15:00:00Z');

describe('backfill runs, chunks and filters', () => {
  it('queue names per pipeline', () => {
    assert.deepEqual(queueNames('churn-scoring'), {
      chunks: 'streamscore-backfill-churn-scoring',
      runs: 'streamscore-backfill-churn-scoring.runs',
    });
  });

  it('chunk job ids are deterministic in run, index, bounds and filter', () => {
    const f = { where: [], since: null };
    const r = { lower: ['10'], upper: ['20'] };
    assert.equal(chunkJobId('run-1', 3, r, f), chunkJobId('run-1', 3, { lower: ['10'], upper: ['20'] }, f));
    assert.match(chunkJobId('run-1', 3, r, f), /^run-1\.00003-[0-9a-f]{8}$/);
    assert.notEqual(
      chunkJobId('run-1', 3, r, f),
      chunkJobId('run-1', 3, { lower: ['10'], upper: ['21'] }, f),
    );
    assert.notEqual(chunkJobId('run-1', 3, r, f), chunkJobId('run-1', 3, r, { where: ['x'], since: null }));
  });

  it('run ids', () => {
    assert.match(newRunId('churn-scoring', now), /^churn-scoring-20261124T150000-[0-9a-f]{4}$/);
    assert.equal(scheduledRunId('churn-scoring', now.getTime()), 'churn-scoring-sched-20261124T150000');
    assert.equal(checkRunId('nightly.2026-11-24'), 'nightly.2026-11-24');
    assert.throws(() => checkRunId('a:b'), /run id/);
  });

  it('ranges between boundaries cover the key space', () => {
    const ranges = rangesFromBoundaries([['10'], ['20']]);
    assert.deepEqual(ranges.map(describeRange), ['(-∞, 10]', '(10, 20]', '(20, +∞)']);
    assert.deepEqual(rangesFromBoundaries([]).map(describeRange), ['(-∞, +∞)']);
    assert.equal(describeRange({ lower: ['acme', '4'], upper: null }), '((acme, 4), +∞)');
  });

  it('--since: durations back from now, ISO dates and instants', () => {
    assert.equal(parseSince('24h', now), '2026-11-23T15:00:00.000Z');
    assert.equal(parseSince('7d', now), '2026-11-17T15:00:00.000Z');
    assert.equal(parseSince('90m', now), '2026-11-24T13:30:00.000Z');
    assert.equal(parseSince('2026-11-01', now), '2026-11-01T00:00:00.000Z');
    assert.equal(parseSince('2026-11-01T06:00:00+02:00', now), '2026-11-01T04:00:00.000Z');
    assert.equal(parseSince('2026-11-01T06:00:00', now), '2026-11-01T06:00:00.000Z');
    assert.throws(() => parseSince('yesterday', now), /--since: expected a duration/);
  });

  it('the run filter: the pipeline where, then the operator’s', () => {
    const spec = { ...backfillSpec('crm.customers', ['customer_id']), where: 'is_active' };
    assert.deepEqual(resolveFilter(spec, { where: ["plan = 'pro'"], since: '1d' }, now), {
      where: ['is_active', "plan = 'pro'"],
      since: '2026-11-23T15:00:00.000Z',
    });
    assert.deepEqual(resolveFilter(backfillSpec('t', ['k']), {}, now), { where: [], since: null });
  });
});
