import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { inCanary } from '../../workers/rollout/canary.js';
import { type RunningCli, startCli } from '../support/cli.js';
import {
  churnUpdates,
  judgeScores,
  manifestSha,
  readScores,
  removeRollout,
  rescore,
  rolloutEnv,
  rolloutNames,
  rolloutPipeline,
  startRolloutSource,
} from '../support/rollout-e2e.js';
import { uniqueId } from '../support/stack.js';

// Canary on the real stack: the churn pipeline with `canary: { alias: challenger, percent: 10 }`
// (champion → churn/1, challenger → churn/3, whose scores differ) scores a 10,000-customer snapshot
// and 10,000 updates through Debezium with one worker. The canary's rows must be exactly the keys
// whose hash puts them in the 10 % (workers/rollout/canary.ts inCanary), so their share is within
// ±2 points of 10 %; a key keeps its side across its updates; and every row was really scored by
// the version it names (re-scored from the features each output message carries).
const id = uniqueId();
const names = rolloutNames('rc', id);
const workerEnv = rolloutEnv(names);
const PERCENT = 10;
const pipelineFile = rolloutPipeline(names, (doc) => {
  doc.setIn(['spec', 'model', 'canary'], doc.createNode({ alias: 'challenger', percent: PERCENT }));
});
const CUSTOMERS = 10_000;
const CHAMPION = '1';
const CHALLENGER = '3';
let worker: RunningCli | undefined;

before(async () => {
  await startRolloutSource(names, CUSTOMERS, { churn: { champion: CHAMPION, challenger: CHALLENGER } });
});

after(async () => {
  await worker?.stop();
  await removeRollout(names, workerEnv, pipelineFile);
});

test(`canary of ${PERCENT} % over ${CUSTOMERS} keys: exactly the hashed keys, sticky across updates, each row scored by the version it names`, async () => {
  worker = startCli(['run', '--no-backfill', pipelineFile], workerEnv);
  const rounds = await churnUpdates({
    table: names.table,
    customers: CUSTOMERS,
    perRound: 2500,
    pauseMs: 300,
    minRounds: 4,
    done: () => true,
  });
  const judged = await judgeScores(names, (err: Error) => {
    throw new Error(`${err.message}\n--- worker output (tail) ---\n${worker?.output().slice(-4000)}`);
  });
  const rows = judged.rows;
  const messages = await readScores(names.output);
  const expected = (key: string) => (inCanary(Number(key), PERCENT) ? CHALLENGER : CHAMPION);

  assert.equal(judged.wrong, 0, judged.line);
  assert.equal(rows.size, CUSTOMERS);

  // The final rows: the canary's are exactly the keys inCanary puts there.
  const onCanary = new Set([...rows].filter(([, r]) => r.version === CHALLENGER).map(([k]) => k));
  const wanted = new Set([...rows.keys()].filter((k) => inCanary(Number(k), PERCENT)));
  const share = (100 * onCanary.size) / rows.size;
  const otherVersions = [...rows.values()].filter((r) => r.version !== CHAMPION && r.version !== CHALLENGER);
  const notWanted = [...onCanary].filter((k) => !wanted.has(k));
  const missed = [...wanted].filter((k) => !onCanary.has(k));
  const badSha = [...rows].filter(([, r]) => r.sha256 !== manifestSha(r.version));

  // Every message (snapshot and each update): the key's side, the version's sha256 header, one
  // version per key across its updates.
  const wrongSide = messages.filter((m) => m.version !== expected(m.key));
  const wrongSha = messages.filter((m) => m.sha256Header !== manifestSha(m.version));
  const perKey = new Map<string, { n: number; versions: Set<string> }>();
  for (const m of messages) {
    const k = perKey.get(m.key) ?? { n: 0, versions: new Set<string>() };
    k.n += 1;
    k.versions.add(m.version);
    perKey.set(m.key, k);
  }
  const updatedKeys = [...perKey.values()].filter((k) => k.n > 1).length;
  const switched = [...perKey].filter(([, k]) => k.versions.size > 1).map(([key]) => key);

  // Each row's score is its version's (so the canary's rows were scored by the canary, not labelled).
  const { mismatched, distinguishable } = await rescore(messages, [CHAMPION, CHALLENGER]);

  const summary =
    `${judged.events} change events (${CUSTOMERS}-row snapshot, ${rounds} rounds of 2,500 updates), ${messages.length} output messages; ` +
    `canary share ${share.toFixed(2)} % (${onCanary.size} keys; inCanary: ${wanted.size}); ${updatedKeys} keys scored more than once, ${switched.length} switched version; ` +
    `${distinguishable} of ${messages.length} messages would score differently under the other version`;
  process.stdout.write(`${summary}\n`);
  const problems = [
    otherVersions.length > 0 && `${otherVersions.length} rows of neither version`,
    Math.abs(share - PERCENT) > 2 && `canary share ${share.toFixed(2)} %, declared ${PERCENT} % (± 2 points)`,
    notWanted.length > 0 &&
      `${notWanted.length} keys on the canary that inCanary leaves out (e.g. ${notWanted.slice(0, 5).join(', ')})`,
    missed.length > 0 &&
      `${missed.length} keys inCanary puts on the canary are not (e.g. ${missed.slice(0, 5).join(', ')})`,
    switched.length > 0 &&
      `${switched.length} keys changed version across their updates (e.g. ${switched.slice(0, 5).join(', ')})`,
    wrongSide.length > 0 &&
      `${wrongSide.length} of ${messages.length} messages on the wrong side of the split`,
    badSha.length + wrongSha.length > 0 &&
      `${badSha.length} rows and ${wrongSha.length} messages without their version's sha256`,
    mismatched.length > 0 && `${mismatched.length} messages without their named version's score`,
  ].filter((p): p is string => typeof p === 'string');
  assert.deepEqual(problems, [], summary);
});
