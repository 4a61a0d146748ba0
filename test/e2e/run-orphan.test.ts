import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { waitForGroup } from '../../workers/sources/kafka/group.js';
import { env, removeChurnObjects, uniqueId, waitFor } from '../support/stack.js';

/**
 * `npx streamscore run` as the README shows it, stopped the way a supervisor stops it: SIGTERM to
 * the npx process only. npm forwards the signal to the `sh -c` it runs the bin through, which dies
 * without passing it on; the worker must notice it was left behind and drain. And a fleet's workers
 * must not outlive their supervisor. Runs the built CLI (dist/, `npm run build`).
 */
const CLI = 'dist/workers/cli/main.js';
const kafka = new Kafka({
  brokers: env.kafkaBrokers.split(','),
  clientId: 'e2e-orphan',
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();
const started: ChildProcess[] = [];
/** The environment of each run: its topics, group and tables are removed afterwards. */
const runs: Record<string, string>[] = [];

function pipelineEnv(id: string): Record<string, string> {
  return {
    CHURN_TOPIC: `orphan-${id}`,
    CHURN_GROUP: `orphan-${id}`,
    CHURN_SCORES_TABLE: `ml.orphan_${id}`,
    CHURN_OUTPUT_TOPIC: `orphan-scores-${id}`,
    CHURN_WH_TABLE: `ORPHAN_${id.toUpperCase()}`,
    CHURN_WH_HISTORY_TABLE: `ORPHAN_HISTORY_${id.toUpperCase()}`,
    CHURN_DLQ: `orphan-${id}.dlq`,
  };
}

/** Starts a command in a process group of its own (so `after` can always clean it up), output captured. */
function startDetached(command: string, args: string[], extraEnv: Record<string, string>) {
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      STREAMSCORE_LOG_LEVEL: 'warn',
      ...extraEnv,
    },
  });
  started.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return { child, output: () => out };
}

/** pid → [ppid, state] of every process, from /proc. */
function processTable(): Map<number, { ppid: number; state: string }> {
  const table = new Map<number, { ppid: number; state: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(name), { ppid: Number(ppid), state: state! });
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

/** The node processes running `streamscore run` below `root`. */
function workerPids(root: number): number[] {
  const table = processTable();
  const below = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of table)
      if (!below.has(pid) && below.has(p.ppid)) {
        below.add(pid);
        grew = true;
      }
  }
  return [...below].filter((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return (
        /node$/.test(argv[0] ?? '') &&
        argv.includes('run') &&
        argv.some((a) => a.includes('streamscore') || a.endsWith('main.js'))
      );
    } catch {
      return false;
    }
  });
}

/** Running: present in /proc and not a zombie (an orphan's zombie waits for an init that may never reap it). */
function alive(pid: number): boolean {
  const p = processTable().get(pid);
  return p !== undefined && p.state !== 'Z' && p.state !== 'X';
}

async function members(group: string): Promise<number> {
  const g = (await admin.describeGroups([group])).groups[0];
  return g?.members.length ?? 0;
}

before(async () => {
  assert.ok(existsSync(CLI), `${CLI} is missing: run \`npm run build\` first (make test does)`);
  const built = statSync('dist/workers/runtime/parent-watch.js', { throwIfNoEntry: false })?.mtimeMs ?? 0;
  for (const src of [
    'workers/cli/run-command.ts',
    'workers/runtime/fleet.ts',
    'workers/runtime/parent-watch.ts',
  ])
    assert.ok(
      statSync(src).mtimeMs <= built,
      `dist/ is older than ${src}: run \`npm run build\` (make test does)`,
    );
  await admin.connect();
});

after(async () => {
  for (const c of started) {
    try {
      if (c.pid) process.kill(-c.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
  await admin.disconnect();
  for (const e of runs) await removeChurnObjects(e);
});

/**
 * `command args` on a topic of its own with `workers` partitions, once `workers` members have
 * joined its consumer group; with the pids of the `streamscore run` workers below it.
 */
async function startRun(command: string, args: string[], workers: number) {
  const e = pipelineEnv(uniqueId());
  runs.push(e);
  const group = e['CHURN_GROUP']!;
  await admin.createTopics({
    topics: [{ topic: e['CHURN_TOPIC']!, numPartitions: workers }],
    waitForLeaders: true,
  });
  const run = startDetached(command, [...args, '--port', '0', 'pipelines/churn-scoring.yaml'], e);
  const exited = new Promise<void>((r) => run.child.once('exit', () => r()));
  const joined = await waitForGroup(admin, group, {
    members: workers,
    timeoutMs: 90_000,
    gaveUp: () => run.child.exitCode !== null,
  });
  assert.ok(joined, `${workers} worker(s) did not join group ${group}:\n${run.output()}`);
  const pids = workerPids(run.child.pid!).filter((p) => p !== run.child.pid);
  assert.equal(pids.length, workers, `worker processes below ${command} (pid ${run.child.pid}): ${pids}`);
  return { ...run, exited, group, workers: pids };
}

/** Waits until none of `pids` runs (within 30 s), then checks that they drained and left their group. */
async function assertGone(run: Awaited<ReturnType<typeof startRun>>, what: string): Promise<void> {
  await waitFor(what, async () => !run.workers.some(alive), 30_000).catch((err) => {
    assert.fail(`${(err as Error).message}: ${run.workers.filter(alive)} still running\n${run.output()}`);
  });
  assert.match(run.output(), /Parent process gone; draining/, 'the worker(s) drained');
  assert.equal(await members(run.group), 0, 'the worker(s) left the consumer group on the way out');
}

test('SIGTERM to `npx streamscore run` only: the worker it left behind drains, leaves its group and exits', async () => {
  const run = await startRun('npx', ['streamscore', 'run'], 1);
  run.child.kill('SIGTERM');
  await run.exited;
  await assertGone(run, 'the worker to exit after npx did');
});

test('a fleet worker does not outlive its supervisor, even a SIGKILLed one', async () => {
  const run = await startRun(process.execPath, [CLI, 'run', '--workers', '2'], 2);
  run.child.kill('SIGKILL');
  await assertGone(run, 'both workers to exit after their supervisor was killed');
});
