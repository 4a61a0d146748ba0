import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type RunningCli, startCli } from '../support/cli.js';
import { env, uniqueId, waitFor } from '../support/stack.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import {
  cleanUp,
  committedOffset,
  createTopic,
  produce,
  range,
  type SmallPipeline,
  smallPipeline,
  writtenIds,
} from './commit-support.js';

// README: `run` exits non-zero on a terminal error (retries exhausted; a bad record without a
// dead-letter topic) without committing past unwritten records.
const created: SmallPipeline[] = [];
const workers: RunningCli[] = [];
const db = new URL(env.databaseUrl);
const proxy = new TcpProxy(db.hostname, Number(db.port || 5432));

after(async () => {
  for (const w of workers) await w.stop('SIGKILL');
  await proxy.stop();
  for (const p of created) await cleanUp(p);
});

/** Starts a worker, waits until it wrote and committed records 1..n. */
async function runningWorker(p: SmallPipeline, n: number): Promise<RunningCli> {
  await createTopic(p.topic);
  await produce(p.topic, range(1, n));
  const w = startCli(['run', '--no-backfill', '--port', '0', p.file], { STREAMSCORE_LOG_LEVEL: 'info' });
  workers.push(w);
  await waitFor(`records 1..${n} written and committed`, async () => {
    if (w.child.exitCode !== null) throw new Error(`worker exited:\n${w.output()}`);
    return (await writtenIds(p.table)).length === n && (await committedOffset(p.group, p.topic)) === n;
  });
  return w;
}

/** Resolves with the worker's exit code, failing if it does not exit within `ms`. */
async function exitCode(w: RunningCli, ms: number): Promise<number | null> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(
      () => reject(new Error(`still running after ${ms} ms:\n${w.output().slice(-3000)}`)),
      ms,
    ).unref(),
  );
  return Promise.race([w.exited, timeout]);
}

test('retries exhausted: a sink that stays unavailable makes the worker exit 1, committed before the unwritten batch', async () => {
  await proxy.start();
  const proxied = new URL(env.databaseUrl);
  proxied.host = `127.0.0.1:${proxy.port}`;
  const p = smallPipeline('terminal-retries', uniqueId(), {
    databaseUrl: proxied.toString(),
    errors: { max_retries: 2, retry_backoff_ms: 100 },
  });
  created.push(p);
  const w = await runningWorker(p, 5);
  proxy.pause(); // Postgres is gone for good, as far as this worker can tell
  await produce(p.topic, range(6, 10));
  assert.equal(await exitCode(w, 30_000), 1, w.output().slice(-3000));
  assert.match(w.output(), /Sink write failed; retrying/);
  assert.match(w.output(), /Pipeline failed; the worker stops without committing past unwritten records/);
  assert.equal(await committedOffset(p.group, p.topic), 5, 'nothing committed past the last written record');
  assert.deepEqual(await writtenIds(p.table), range(1, 5));
});

test('a record that cannot be decoded, without a dead-letter topic, makes the worker exit 1, committed before it', async () => {
  const p = smallPipeline('terminal-undecodable', uniqueId());
  created.push(p);
  const w = await runningWorker(p, 3);
  await produce(p.topic, [4, 5, 6], { 4: '{"id": 4, "v": ' }); // offset 3: truncated JSON
  assert.equal(await exitCode(w, 30_000), 1, w.output().slice(-3000));
  assert.match(w.output(), /no dead_letter_topic configured, so the worker stops rather than drop it/);
  assert.equal(await committedOffset(p.group, p.topic), 3, 'the next record to read is the undecodable one');
});

test('a fleet whose workers fail at every start gives up after STREAMSCORE_FLEET_MAX_FAILURES and exits 1', async () => {
  // The sink's table does not exist and may not be created: every worker fails at start-up.
  const p = smallPipeline('terminal-fleet', uniqueId(), { postgres: { create_table: false } });
  created.push(p);
  await createTopic(p.topic);
  const fleet = startCli(['run', '--no-backfill', '--workers', '2', p.file], {
    STREAMSCORE_LOG_LEVEL: 'info',
    STREAMSCORE_FLEET_MAX_FAILURES: '3',
  });
  workers.push(fleet);
  assert.equal(await exitCode(fleet, 45_000), 1, fleet.output().slice(-3000));
  const out = fleet.output();
  assert.match(out, /Worker failed; restarting/);
  assert.match(out, /Workers failed 3 times within 300000 ms; giving up \(exit 1\)/);
  const starts = out.match(/streamscore run: postgres sink: expected table .* to exist/g) ?? [];
  assert.ok(starts.length >= 3, `each start failed on the missing table (${starts.length} times)`);
});
