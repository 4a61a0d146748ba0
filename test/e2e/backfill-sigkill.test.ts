import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RunningCli, runCli } from '../support/cli.js';
import { waitFor, withPg } from '../support/stack.js';
import {
  backfillCase,
  checkPredictions,
  completedChunks,
  rowsNotFromChunks,
  runFinished,
  scoreRows,
} from './backfill-support.js';

// Resumability: the backfill worker process is SIGKILLed twice in the middle of chunks and
// restarted; stalled-job recovery hands the killed chunks to the next worker and the run completes
// with every row scored by the attempt that completed its chunk.
const ROWS = 60_000;
const CHUNKS = ROWS / 2000 + 1;
// Short locks so a killed worker's chunks are noticed as stalled within seconds.
const {
  id,
  env: e,
  table,
  scores,
  file,
  queues,
  start: startCliCase,
} = backfillCase(ROWS, { chunk_size: 2000, fetch_rows: 250, concurrency: 2, lock_ms: 2000 });
const runId = `kill-${id}`;

/** Waits until at least `done` chunks are done and one is in progress, then SIGKILLs the worker. */
async function killMidChunk(w: RunningCli, done: number): Promise<void> {
  await waitFor(
    `${done} chunks done and one in progress`,
    async () => {
      const s = await queues.status(runId);
      return s !== undefined && s.chunks.done >= done && s.chunks.active > 0 && s.rows.inFlight > 0;
    },
    60000,
  );
  w.child.kill('SIGKILL');
  assert.equal(await w.exited, null, 'killed by a signal');
}

test('SIGKILL the worker twice mid-chunk; after restarts the run completes, every row from its chunk’s completing read', async () => {
  const start = () => startCliCase(['run', '--backfill-only', file]);
  const first = start();
  const res = await runCli(['backfill', file, '--run-id', runId], e);
  assert.equal(res.code, 0, res.output);
  assert.match(res.output, new RegExp(`run ${runId}: ${CHUNKS} chunks, ${ROWS} rows`));
  // Enqueuing the same run again adds nothing.
  const again = await runCli(['backfill', file, '--run-id', runId], e);
  assert.match(again.output, /already exists/);

  await killMidChunk(first, 3);
  const orphaned = (await queues.status(runId))!;
  assert.ok(orphaned.chunks.active > 0, 'the killed worker left chunks active (locked)');
  const second = start();
  await killMidChunk(second, 12);
  start();

  const s = await runFinished(queues, runId, 180000);
  assert.equal(s.state, 'completed', JSON.stringify(s));
  assert.deepEqual(s.chunks, { total: CHUNKS, done: CHUNKS, failed: 0, active: 0, pending: 0 });
  assert.equal(s.rows.done, ROWS, 'each range was completed exactly once');
  const jobs = await queues.chunks.getJobs(['completed']);
  const recovered = jobs.filter((j) => j.stalledCounter > 0);
  assert.ok(recovered.length >= 2, `chunks recovered after the kills: ${recovered.length}`);

  const counts = await withPg(
    async (c) =>
      (
        await c.query(
          `select count(*)::int as n,
                  (select count(*)::int from ${table} t where not exists
                     (select 1 from ${scores} s where s.customer_id = t.customer_id)) as missing
           from ${scores}`,
        )
      ).rows[0],
  );
  assert.deepEqual(counts, { n: ROWS, missing: 0 });
  // The killed attempts wrote part of their chunks at an older snapshot: the completing attempt's
  // newer read must have replaced every one of those rows (its position is the row's position).
  const chunks = await completedChunks(queues, runId);
  assert.equal(chunks.length, CHUNKS);
  assert.deepEqual(await rowsNotFromChunks(scores, chunks), []);
  const rows = await scoreRows(scores);
  const sample = Array.from({ length: 1000 }, (_, i) => 1 + ((i * 7919) % ROWS));
  assert.deepEqual(await checkPredictions(table, rows, sample), []);
});
