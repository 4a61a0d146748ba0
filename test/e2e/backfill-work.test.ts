import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { backfillCase, scoreRows } from './backfill-support.js';

// `streamscore backfill --work` with no worker running: the CLI processes the run's chunks itself
// through the assembled pipeline, shows progress, and exits 0 when the run completes.
const ROWS = 5000;
const { id, env: e, scores, file, queues } = backfillCase(ROWS, { chunk_size: 1000 });

test('backfill --work processes its own run', async () => {
  const r = await runCli(['backfill', file, '--work', '--run-id', `work-${id}`], e);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /6\/6 chunks {2}5,000\/5,000 rows .*completed {2}0 failed/);
  assert.equal((await scoreRows(scores)).size, ROWS);
  assert.equal((await queues.status(`work-${id}`))?.state, 'completed');
  assert.deepEqual(await queues.schedules(), [], 'the CLI does not register schedules');
});
