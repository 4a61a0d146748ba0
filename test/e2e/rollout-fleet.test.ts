import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningCli, startCli } from '../support/cli.js';
import { waitForWorkers } from '../support/fleet.js';
import {
  aliasHistory,
  churnUpdates,
  groupAssignment,
  judgeScores,
  manifestSha,
  modelCli,
  readScores,
  removeRollout,
  rescore,
  rolloutEnv,
  rolloutNames,
  rolloutPipeline,
  type ScoredMessage,
  sourceKeys,
  sourcePartitions,
  startRolloutSource,
  targetsDuring,
} from '../support/rollout-e2e.js';
import { uniqueId, waitFor } from '../support/stack.js';
import { waitCommitted } from '../support/topics.js';

// Hot swap on the real stack: a `run --workers 2` fleet of the churn pipeline streams 22k CRM
// changes (a 2,000-row snapshot, then 67+ rounds of 300 updates through Debezium) while the champion
// moves v1 → v3 → v1 through the CLI (`model promote churn 3`, then `model rollback churn`). churn/3
// is the retrained model, whose scores differ from churn/1's on most rows (churn/2 scores exactly
// like churn/1): so a row that says one version but was scored by the other shows in its score too.
// Afterwards: every key has one row at its last position, and every row (the final Postgres rows and
// every message of the output topic) carries the version that was the champion when its batch was
// scored, with that version's sha256.
const id = uniqueId();
const names = rolloutNames('rf', id);
// Info logs: the workers' swap lines ("Model churn primary: version 1 → 3 …") are printed below.
const workerEnv = rolloutEnv(names, { STREAMSCORE_LOG_LEVEL: 'info' });
const pipelineFile = rolloutPipeline(names);
const CUSTOMERS = 2000;
const PER_ROUND = 300;
const MIN_ROUNDS = 67;
const MIDDLE = '3';
// The propagation bound: a move reaches every worker within 2 s (the control watcher polls every
// ~100 ms, the new version is loaded next to the old one, and the swap happens at the next batch's
// lease). A batch leases its models once, just before it is scored, and scored_at is taken right
// then; so the version a row carries must have been the alias' target at some instant of
// [scored_at − 2 s, scored_at]: not earlier (that worker would have missed a move for more than 2 s),
// not later (no worker can follow a move before it is on the control topic; a move's `at` is stamped
// before it is appended, so the window is never too tight). Same host, same clock.
const PROPAGATION_MS = 2000;
let fleet: RunningCli | undefined;

before(async () => {
  await startRolloutSource(names, CUSTOMERS, { churn: { champion: '1' } });
});

after(async () => {
  await fleet?.stop();
  await removeRollout(names, workerEnv, pipelineFile);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const withOutput = (err: Error): never => {
  throw new Error(`${err.message}\n--- fleet output (tail) ---\n${fleet?.output().slice(-4000)}`);
};

test('a 2-worker fleet follows champion v1 → v3 → v1 under 20k+ CRM changes: one row per key at its last position, each with the version active for its batch', async () => {
  const started = Date.now();
  fleet = startCli(['run', '--no-backfill', '--workers', '2', pipelineFile], workerEnv);
  await waitCommitted(names.group, names.topic, BigInt(CUSTOMERS), 90_000).catch(withOutput);
  await waitForWorkers(fleet, 2);
  const assigned = await waitFor(
    'two group members, each owning partitions',
    async () => {
      const a = await groupAssignment(names.group, names.topic);
      return a.size === 2 && [...a.values()].every((p) => p.length > 0) ? a : undefined;
    },
    60_000,
  ).catch(withOutput);

  let done = false;
  const load = churnUpdates({
    table: names.table,
    customers: CUSTOMERS,
    perRound: PER_ROUND,
    pauseMs: 250,
    minRounds: MIN_ROUNDS,
    done: () => done,
  });
  const cli = { controlTopic: names.controlTopic, pipelineFile };
  try {
    await sleep(2500);
    const promoted = await modelCli(
      ['promote', 'churn', MIDDLE, '--alias', 'champion', '--reason', 'rollout e2e: the retrained model'],
      cli,
    );
    assert.equal(promoted.code, 0, promoted.output);
    assert.match(promoted.output, new RegExp(`churn@champion: 1 → ${MIDDLE} promoted`));
    await sleep(5000);
    const back = await modelCli(
      ['rollback', 'churn', '--alias', 'champion', '--reason', 'rollout e2e: back'],
      cli,
    );
    assert.equal(back.code, 0, back.output);
    assert.match(back.output, new RegExp(`churn@champion: ${MIDDLE} → 1 rolled back`));
    await sleep(5000);
  } finally {
    done = true;
  }
  const rounds = await load;

  // The oracle: the source table's keys, each at its last event on the CDC topic (read independently).
  const judged = await judgeScores(names, withOutput);
  const rows = judged.rows;
  const assignedAfter = await groupAssignment(names.group, names.topic);
  const history = await aliasHistory(names.controlTopic, 'churn', 'champion');
  const messages = await readScores(names.output);
  const partitionOf = await sourcePartitions(names.topic);
  const source = await sourceKeys(names.table);

  assert.deepEqual(
    history.map((e) => `${e.action} ${e.version}`),
    ['promote 1', `promote ${MIDDLE}`, 'rollback 1'],
  );
  const moves = history.slice(1).map((e, i) => ({
    version: e.version,
    at: Date.parse(e.at),
    until: i + 2 < history.length ? Date.parse(history[i + 2]!.at) : Number.POSITIVE_INFINITY,
    label: `${e.from} → ${e.version} (${e.action})`,
  }));

  // 0 lost, 0 extra, every key at its last position.
  const summary = [
    `${judged.events} change events (${rounds} rounds of ${PER_ROUND} updates after a ${CUSTOMERS}-row snapshot) over ${judged.last.size} keys; ` +
      `${rows.size} Postgres rows, ${messages.length} output messages; ${((Date.now() - started) / 1000).toFixed(0)} s`,
    `postgres: ${judged.line}`,
  ].join('\n');
  process.stdout.write(`${summary}\n`);
  assert.equal(judged.undecodable, 0, summary);
  assert.ok(judged.events >= 20_000, summary);
  assert.deepEqual([...source].sort(), [...judged.last.keys()].sort(), 'the topic covers the source table');
  assert.equal(judged.wrong, 0, summary);

  // Each row's version was the champion at its batch (within the propagation bound), with its sha256.
  const wrongRows = [...rows].filter(([, r]) => {
    const allowed = targetsDuring(history, r.scoredAt - PROPAGATION_MS, r.scoredAt);
    return !allowed.has(r.version) || r.sha256 !== manifestSha(r.version);
  });
  assert.deepEqual(
    wrongRows.slice(0, 5),
    [],
    `${wrongRows.length} Postgres rows carry a version that was not the champion when they were scored`,
  );
  const wrongMessages = messages.filter((m) => {
    const allowed = targetsDuring(history, m.scoredAt - PROPAGATION_MS, m.scoredAt);
    return !allowed.has(m.version) || m.sha256Header !== manifestSha(m.version);
  });
  assert.deepEqual(
    wrongMessages.slice(0, 5),
    [],
    `${wrongMessages.length} of ${messages.length} output messages carry a version (or sha256 header) that was not the champion's when they were scored`,
  );

  // Scored well after each move (past the bound, before the next): all of them, on both workers.
  const ownerOf = (m: ScoredMessage) =>
    [...assigned].find(([, parts]) => parts.includes(partitionOf.get(m.key) ?? -1))?.[0] ?? '?';
  const lines: string[] = [];
  for (const move of moves) {
    const settled = messages.filter((m) => m.scoredAt >= move.at + PROPAGATION_MS && m.scoredAt < move.until);
    const stale = settled.filter((m) => m.version !== move.version);
    assert.ok(settled.length > 0, `no rows scored between 2 s after ${move.label} and the next move`);
    assert.equal(
      stale.length,
      0,
      `${stale.length} of ${settled.length} rows scored well after ${move.label} do not carry ${move.version}`,
    );
    const workers = [...assigned.keys()].map((member, w) => {
      const first = messages
        .filter((m) => m.version === move.version && m.scoredAt >= move.at && ownerOf(m) === member)
        .reduce((min, m) => Math.min(min, m.scoredAt), Number.POSITIVE_INFINITY);
      assert.ok(
        Number.isFinite(first),
        `worker ${w + 1} wrote no row with ${move.version} after ${move.label}`,
      );
      return `worker ${w + 1} (partitions ${assigned.get(member)!.join(',')}): ${first - move.at} ms`;
    });
    lines.push(`champion ${move.label}: first row of the new version ${workers.join('; ')}`);
  }

  // The scores are the named version's: re-scored independently from the features each message carries.
  const { mismatched, distinguishable } = await rescore(messages, ['1', MIDDLE]);
  assert.deepEqual(
    mismatched.slice(0, 3),
    [],
    `${mismatched.length} output messages do not have their named version's score`,
  );

  const swaps = fleet
    .output()
    .split('\n')
    .filter((l) => l.includes('Model churn primary: version'))
    .map((l) => {
      const j = JSON.parse(l) as {
        worker?: string;
        from?: string;
        to?: string;
        loadMs?: number;
        sinceMoveMs?: number;
      };
      return `worker process ${j.worker}: ${j.from} → ${j.to} swapped ${j.sinceMoveMs} ms after the move (load ${j.loadMs} ms)`;
    });
  const sameOwners =
    JSON.stringify([...assigned].sort()) === JSON.stringify([...assignedAfter].sort())
      ? 'unchanged'
      : `changed to ${JSON.stringify([...assignedAfter])}: per-worker figures use the first`;
  process.stdout.write(
    [
      `promote → first row written (scored_at of the worker's first batch with the new version; not asserted):`,
      ...lines.map((l) => `  ${l}`),
      `workers' swap log lines:`,
      ...swaps.map((l) => `  ${l}`),
      `group assignment during the run: ${sameOwners}`,
      `${distinguishable} of ${messages.length} messages would score differently under the other version; all ${messages.length} match their named version`,
      '',
    ].join('\n'),
  );
});
