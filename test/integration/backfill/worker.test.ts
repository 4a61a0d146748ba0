import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import type { ScoringPath } from '../../../workers/backfill/chunk.js';
import { createTableReader } from '../../../workers/backfill/create.js';
import { BackfillQueues, type RunStatus } from '../../../workers/backfill/queues.js';
import { BackfillWorker } from '../../../workers/backfill/worker.js';
import { PipelineError } from '../../../workers/core/errors.js';
import type { DecodedBatch } from '../../../workers/core/types.js';
import { uniqueId, waitFor, withPg } from '../../support/stack.js';
import { backfillSpec, dropPrefix, redis, silent } from './support.js';

// Backfill runs on real Redis (BullMQ) and Postgres, through a recording scoring path.
const schema = `bf_worker_${uniqueId()}`;
const table = `${schema}.items`;
const N = 1000;
let connection: Redis;
const cleanup: (() => Promise<unknown>)[] = [];

type Behaviour = (key: number, attempt: number) => void;

/** A scoring path that records every key it is given and can fail or slow down on some keys. */
function recordingPath(behaviour: Behaviour = () => {}, delayMs = 0): ScoringPath & { keys: number[] } {
  const attempts = new Map<number, number>();
  const keys: number[] = [];
  return {
    keys,
    async processDecoded(decoded: DecodedBatch) {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      for (const r of decoded.records) {
        const key = Number((r.root['key'] as { id: number }).id);
        const n = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, n);
        behaviour(key, n);
      }
      for (const r of decoded.records) keys.push(Number((r.root['key'] as { id: number }).id));
      return { scored: decoded.records.length, deleted: 0, deadLettered: 0, skipped: 0 };
    },
  };
}

async function setup(path: ScoringPath, overrides: Parameters<typeof backfillSpec>[2] = {}) {
  const prefix = `bftest${uniqueId()}`;
  const pipeline = `p-${uniqueId()}`;
  const spec = backfillSpec(table, ['id'], overrides);
  const reader = createTableReader(spec, { pipeline });
  const worker = await BackfillWorker.create({
    pipeline,
    spec,
    path,
    connection,
    prefix,
    logger: silent,
    reader,
  });
  const queues = new BackfillQueues(pipeline, { connection, prefix });
  cleanup.push(async () => {
    await worker.close();
    await queues.close();
    await reader.close();
    await dropPrefix(connection, prefix);
  });
  return { reader, queues, spec };
}

async function finished(queues: BackfillQueues, runId: string, timeoutMs = 30000): Promise<RunStatus> {
  return waitFor(
    `run ${runId} finished`,
    async () => {
      const s = await queues.status(runId);
      return s && ['completed', 'failed', 'cancelled'].includes(s.state) ? s : undefined;
    },
    timeoutMs,
  );
}

before(async () => {
  connection = redis();
  await withPg(async (c) => {
    await c.query(`create schema ${schema}`);
    await c.query(`create table ${table} (id bigint primary key, v int)`);
    await c.query(`insert into ${table} select g, g % 7 from generate_series(1, ${N}) g`);
    await c.query(`create table ${table}_other (like ${table} including all)`);
    await c.query(`insert into ${table}_other select g, 0 from generate_series(1, 10) g`);
  });
});

afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

after(async () => {
  await withPg((c) => c.query(`drop schema ${schema} cascade`));
  connection.disconnect();
});

describe('BackfillWorker', () => {
  it('completes a run: every row scored once; enqueuing the same run again adds nothing', async () => {
    const path = recordingPath();
    const { reader, queues, spec } = await setup(path);
    const filter = { where: [], since: null };
    const run = await queues.enqueue({ runId: 'run-1', reader, spec, filter, trigger: 'cli' });
    assert.deepEqual(run, { runId: 'run-1', chunks: 11, plannedRows: N, created: true });
    const again = await queues.enqueue({ runId: 'run-1', reader, spec, filter, trigger: 'cli' });
    assert.equal(again.created, false);
    const s = await finished(queues, 'run-1');
    assert.equal(s.state, 'completed');
    assert.deepEqual(s.chunks, { total: 11, done: 11, failed: 0, active: 0, pending: 0 });
    assert.equal(s.rows.done, N);
    assert.equal(path.keys.length, N, 'no row scored twice');
    assert.equal(new Set(path.keys).size, N);
    const counts = await queues.chunks.getJobCounts('completed', 'failed', 'waiting');
    assert.deepEqual(counts, { completed: 11, failed: 0, waiting: 0 });
    const result = await (await queues.runs.getJob('run-1'))!.returnvalue;
    assert.deepEqual(result, { chunks: 11, rows: N, scored: N, deadLettered: 0 });
  });

  it('a non-retryable error fails its chunk at once with the reason in status; transient ones are retried', async () => {
    const path = recordingPath((key, attempt) => {
      if (key === 150) {
        throw new PipelineError('postgres sink: relation "ml.x" does not exist', {
          code: 'SINK_SCHEMA',
          stage: 'sink',
          retryable: false,
        });
      }
      if (key === 550 && attempt === 1) {
        throw new PipelineError('connection reset', {
          code: 'SINK_UNAVAILABLE',
          stage: 'sink',
          retryable: true,
        });
      }
    });
    const { reader, queues, spec } = await setup(path);
    await queues.enqueue({
      runId: 'run-2',
      reader,
      spec,
      filter: { where: [], since: null },
      trigger: 'cli',
    });
    const s = await finished(queues, 'run-2');
    assert.equal(s.state, 'failed');
    assert.equal(s.chunks.failed, 1);
    assert.equal(s.chunks.done, 10);
    assert.equal(s.failures.length, 1);
    assert.equal(s.failures[0]!.index, 1);
    assert.equal(s.failures[0]!.range, '(100, 200]');
    assert.match(s.failures[0]!.reason, /^SINK_SCHEMA: postgres sink: relation "ml.x" does not exist/);
    assert.match(s.reason ?? '', /1 of 11 chunks failed; first: SINK_SCHEMA/);
    const failedJob = (await queues.chunks.getJobs(['failed']))[0]!;
    assert.equal(failedJob.attemptsMade, 1, 'not retried');
    // The chunk with the transient error was retried and completed: rows 501..600 all scored.
    for (let k = 501; k <= 600; k++) assert.ok(path.keys.includes(k), `key ${k}`);
    assert.equal(s.rows.done, N - 100);
  });

  it('cancel: chunks not started fail as cancelled; the run ends cancelled', async () => {
    const path = recordingPath(() => {}, 150);
    const { reader, queues, spec } = await setup(path, { concurrency: 1 });
    await queues.enqueue({
      runId: 'run-3',
      reader,
      spec,
      filter: { where: [], since: null },
      trigger: 'cli',
    });
    await waitFor('a chunk done', async () => ((await queues.status('run-3'))?.chunks.done ?? 0) >= 1);
    assert.equal(await queues.cancel('run-3'), true);
    const s = await finished(queues, 'run-3');
    assert.equal(s.state, 'cancelled');
    assert.ok(s.chunks.done < 11, `done ${s.chunks.done}`);
    assert.equal(s.chunks.done + s.chunks.failed, 11);
    assert.match(s.reason ?? '', /^cancelled/);
    assert.equal(await queues.cancel('run-3'), false, 'a finished run cannot be cancelled');
  });

  it('a cron schedule (every 2 s) fires, plans and completes a run; removing it stops it', async () => {
    const path = recordingPath();
    const { queues } = await setup(path, { schedule: { cron: '*/2 * * * * *', tz: 'Europe/Berlin' } });
    const [sched] = await queues.schedules();
    assert.equal(sched?.cron, '*/2 * * * * *');
    assert.equal(sched?.tz, 'Europe/Berlin');
    const run = await waitFor(
      'a scheduled run completed',
      async () =>
        (await queues.recentRuns(5)).find((r) => r.trigger === 'schedule' && r.state === 'completed'),
      30000,
    );
    assert.match(run.runId, /-sched-\d{8}T\d{6}$/);
    assert.equal(run.rows.done, N);
    await queues.syncSchedule(undefined);
    assert.deepEqual(await queues.schedules(), []);
  });

  it('a worker reading another table than the run was planned on leaves its chunks (config drift)', async () => {
    const path = recordingPath();
    const { queues, spec } = await setup(path, { attempts: 2 });
    const other = createTableReader(backfillSpec(`${table}_other`, ['id']), { pipeline: 'other' });
    try {
      await queues.enqueue({
        runId: 'run-5',
        reader: other,
        spec,
        filter: { where: [], since: null },
        trigger: 'cli',
      });
    } finally {
      await other.close();
    }
    const s = await finished(queues, 'run-5');
    assert.equal(s.state, 'failed');
    assert.match(
      s.failures[0]!.reason,
      /chunk of bf_worker_\w+\.items_other, but this worker's pipeline p-\w+ reads bf_worker_\w+\.items$/,
    );
    assert.equal(path.keys.length, 0);
  });
});
