import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/stack.js';
import { backfillCase, scoreRows } from './backfill-support.js';

// A cron schedule of a few seconds in the pipeline: `streamscore run` registers it at start, it
// fires, the worker plans and runs the backfill; `backfill schedules` and `backfill status` show it.
const ROWS = 5000;
const {
  env: e,
  file,
  queues,
  scores,
  start,
} = backfillCase(ROWS, {
  chunk_size: 1000,
  schedule: { cron: '*/3 * * * * *', tz: 'Europe/Berlin' },
});

test('a schedule registered by `streamscore run` fires and runs a backfill', async () => {
  start(['run', '--backfill-only', file]);
  const listed = await waitFor('the schedule registered', async () => {
    const r = await runCli(['backfill', 'schedules'], e);
    return r.code === 0 && r.output.includes('*/3 * * * * *') ? r.output : undefined;
  });
  assert.match(listed, /churn-scoring\s+\*\/3 \* \* \* \* \*\s+Europe\/Berlin\s+next \d{4}-\d{2}-\d{2}T/);

  const run = await waitFor(
    'a scheduled run completed',
    async () =>
      (await queues.recentRuns(10)).find((r) => r.trigger === 'schedule' && r.state === 'completed'),
    60000,
  );
  assert.match(run.runId, /^churn-scoring-sched-\d{8}T\d{6}$/);
  assert.equal(run.rows.done, ROWS);
  assert.equal((await scoreRows(scores)).size, ROWS);

  const status = await runCli(['backfill', 'status', run.runId], e);
  assert.equal(status.code, 0, status.output);
  assert.match(status.output, /\(schedule\)/);
  assert.match(status.output, /state {5}completed/);
  assert.match(status.output, /chunks {4}6 done, 0 failed, 0 active, 0 pending, of 6/);
  const list = await runCli(['backfill', 'status'], e);
  assert.match(list.output, new RegExp(`${run.runId}\\s+completed\\s+6/6 chunks\\s+5,000 rows`));
});

test('status of an unknown run, and cancel of a finished one', async () => {
  const unknown = await runCli(['backfill', 'status', 'no-such-run'], e);
  assert.equal(unknown.code, 1);
  assert.match(unknown.output, /no backfill run 'no-such-run'/);
  const done = (await queues.recentRuns(10)).find((r) => r.state === 'completed')!;
  const cancel = await runCli(['backfill', 'cancel', done.runId], e);
  assert.equal(cancel.code, 0);
  assert.match(cancel.output, /has already finished \(completed\)/);
});

test('a --where that does not parse is reported with the SQL error; nothing is enqueued', async () => {
  const cliRuns = async () => (await queues.recentRuns(50)).filter((x) => x.trigger === 'cli').length;
  const before = await cliRuns();
  const r = await runCli(['backfill', file, '--where', 'plan = = 1'], e);
  assert.equal(r.code, 1);
  assert.match(
    r.output,
    /streamscore backfill: postgres crm\.customers_\w+: plan chunks failed \[42601\]: syntax error/,
  );
  assert.equal(await cliRuns(), before);
});
