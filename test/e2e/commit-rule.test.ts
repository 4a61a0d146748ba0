import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { type RunningCli, startCli } from '../support/cli.js';
import { env, uniqueId, waitFor, withPg } from '../support/stack.js';
import {
  cleanUp,
  committedOffset,
  createTopic,
  produce,
  range,
  smallPipeline,
  writtenIds,
} from './commit-support.js';

// The commit rule on the real stack: a worker SIGKILLed while a batch is being written (the sink's
// table is locked by the test, so the write waits) has committed nothing past what was written,
// and a restarted worker re-reads that batch and writes it.
const p = smallPipeline('commit-rule', uniqueId());
const workers: RunningCli[] = [];

after(async () => {
  for (const w of workers) await w.stop('SIGKILL');
  await cleanUp(p);
});

function startWorker(): RunningCli {
  const w = startCli(['run', '--no-backfill', '--port', '0', p.file]);
  workers.push(w);
  return w;
}

test('a worker killed during a slow sink write commits nothing past it; after a restart the batch is re-read and written', async () => {
  await createTopic(p.topic);
  await produce(p.topic, range(1, 10));
  const first = startWorker();
  await waitFor('the first 10 records written and committed', async () => {
    if (first.child.exitCode !== null) throw new Error(`worker exited:\n${first.output()}`);
    return (await writtenIds(p.table)).length === 10 && (await committedOffset(p.group, p.topic)) === 10;
  });

  // Hold the table: the worker's next write waits for the lock (a slow sink).
  const locker = new pg.Client({ connectionString: env.databaseUrl });
  await locker.connect();
  try {
    await locker.query('begin');
    await locker.query(`lock table ${p.table} in access exclusive mode`);
    const lockerPid = (await locker.query('select pg_backend_pid() as pid')).rows[0].pid as number;
    await produce(p.topic, range(11, 20));
    const blocked = await waitFor(
      'the worker to be writing the next batch, blocked on the lock',
      async () => {
        const r = await withPg((c) =>
          c.query('select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [lockerPid]),
        );
        return r.rows.length > 0 ? r.rows.map((x) => x.pid as number) : undefined;
      },
    );
    assert.equal(await committedOffset(p.group, p.topic), 10, 'the batch in flight is not committed');

    first.child.kill('SIGKILL');
    assert.equal(await first.exited, null, 'killed by the signal');
    // The dead worker's statement still waits on the server: end it, so that it cannot complete
    // when the lock is released and only a restarted worker can write the batch.
    await withPg((c) => c.query('select pg_terminate_backend(pid) from unnest($1::int[]) pid', [blocked]));
    await locker.query('rollback');
  } finally {
    await locker.end();
  }
  assert.deepEqual(await writtenIds(p.table), range(1, 10), 'the killed worker wrote nothing more');
  assert.equal(await committedOffset(p.group, p.topic), 10, 'and committed nothing past what it wrote');

  const second = startWorker();
  await waitFor(
    'the re-read batch written and committed',
    async () => {
      if (second.child.exitCode !== null) throw new Error(`worker exited:\n${second.output()}`);
      return (await writtenIds(p.table)).length === 20 && (await committedOffset(p.group, p.topic)) === 20;
    },
    40_000,
  );
  assert.deepEqual(await writtenIds(p.table), range(1, 20));
  assert.equal(await second.stop(), 0, second.output().slice(-2000));
});
