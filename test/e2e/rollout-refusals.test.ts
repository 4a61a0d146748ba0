import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventStamp } from '../../workers/control/events.js';
import { appendControlEvent } from '../../workers/control/index.js';
import { type RunningCli, startCli } from '../support/cli.js';
import { tmpRegistry } from '../support/rollout.js';
import {
  aliasHistory,
  churnUpdates,
  manifestSha,
  metricSum,
  modelCli,
  outputsMisfit,
  removeRollout,
  rolloutEnv,
  rolloutNames,
  rolloutPipeline,
  scoresTable,
  startRolloutSource,
} from '../support/rollout-e2e.js';
import { freePort, testKafka, uniqueId, waitFor } from '../support/stack.js';
import { waitCommitted } from '../support/topics.js';

// Bad input on the real stack, with a worker scoring CRM changes all along. A private registry
// holds churn/1 and /2, churn/3 = the ltv model (4 features: does not fit the churn pipeline's 8)
// churn/4 = churn/1's manifest over a corrupted model.onnx (sha256 mismatch), and churn/5 = the ltv
// regressor declared 8 wide (the width fits; its one `variable` output has no label or probabilities).
//  1. The CLI refuses each bad promotion (unknown version, misfit, corrupted file) with exit 1 and
//     a message naming the problem; nothing reaches the control topic.
//  2. The second line of defence: the same bad moves written straight to the control topic (no
//     CLI checks). The worker logs "Refused model version …", counts streamscore_model_swap_failures,
//     and keeps scoring with churn/1; a good promotion afterwards is still followed.
const id = uniqueId();
const names = rolloutNames('rr', id);
const registry = tmpRegistry({ '3': 'misfit', '4': 'corrupt' });
outputsMisfit(registry.dir, '5');
const pipelineFile = rolloutPipeline(names, (doc) => {
  doc.setIn(['spec', 'model', 'registry'], registry.dir);
});
const workerEnv = rolloutEnv(names);
const CUSTOMERS = 300;
const kafka = testKafka(`rollout-refusals-${id}`);
const cli = { controlTopic: names.controlTopic, pipelineFile, models: registry.dir };
let worker: RunningCli | undefined;
let updating = true;
let updates: Promise<number> | undefined;

before(async () => {
  workerEnv['METRICS_PORT'] = String(await freePort());
  await startRolloutSource(names, CUSTOMERS, { churn: { champion: '1' } });
  worker = startCli(['run', '--no-backfill', pipelineFile], workerEnv);
  await waitCommitted(names.group, names.topic, BigInt(CUSTOMERS), 90_000).catch(failed);
  // Changes keep coming all along: a worker that stopped scoring would show.
  updates = churnUpdates({
    table: names.table,
    customers: CUSTOMERS,
    perRound: 40,
    pauseMs: 200,
    minRounds: 1,
    done: () => !updating,
  });
});

after(async () => {
  updating = false;
  await updates;
  await worker?.stop();
  await removeRollout(names, workerEnv, pipelineFile);
  registry.remove();
});

function failed(err: Error): never {
  throw new Error(`${err.message}\n--- worker output (tail) ---\n${worker?.output().slice(-4000)}`);
}

/** Rows scored after `since` (ms), by version. */
async function versionsScoredAfter(since: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const r of (await scoresTable(names.scores)).values())
    if (r.scoredAt > since) out.set(r.version, (out.get(r.version) ?? 0) + 1);
  return out;
}

test('the CLI refuses an unknown version, versions whose width or outputs do not fit, a corrupted file: exit 1, the problem named, nothing recorded', async () => {
  const cases: [string, string, RegExp][] = [
    ['9', 'unknown version', /no version '9' of model 'churn'[\s\S]*versions there: 1, 2, 3, 4, 5/],
    ['3', 'width does not fit', /churn\/3 does not fit[\s\S]*width 4, but the pipeline declares 8 features/],
    [
      '5',
      'outputs do not fit',
      /churn\/5 does not fit[\s\S]*field 'churn_probability': the model has no probability output/,
    ],
    ['4', 'corrupted model file', /sha256 is [0-9a-f]{64}[\s\S]* says [0-9a-f]{64}: the file is corrupted/],
  ];
  for (const [version, what, says] of cases) {
    const r = await modelCli(
      ['promote', 'churn', version, '--alias', 'champion', '--reason', `bad: ${what}`],
      cli,
    );
    process.stdout.write(`promote churn ${version} (${what}): exit ${r.code}: ${r.output.trim()}\n`);
    assert.equal(r.code, 1, `promote ${version} (${what}): ${r.output}`);
    assert.match(r.output, /^streamscore: /m);
    assert.match(r.output, says, `promote ${version} (${what}) does not name the problem`);
  }
  const history = await aliasHistory(names.controlTopic, 'churn', 'champion');
  assert.deepEqual(
    history.map((e) => e.version),
    ['1'],
    'a refused promotion reached the control topic',
  );
  assert.doesNotMatch(worker!.output(), /Refused model version|→ [2-5] \(from the next batch\)/);
});

test('bad moves written straight to the control topic: the worker refuses each, counts it, and keeps scoring with churn/1', async () => {
  const bad: [string, string, string][] = [
    ['4', 'corrupted model file', manifestSha('4', registry.dir)],
    ['3', 'width does not fit', manifestSha('3', registry.dir)],
    ['5', 'outputs do not fit', manifestSha('5', registry.dir)],
    ['9', 'unknown version', '0'.repeat(64)],
  ];
  const firstAt = Date.now();
  for (const [version, why, sha256] of bad) {
    await appendControlEvent(kafka, names.controlTopic, {
      type: 'alias',
      action: 'promote',
      model: 'churn',
      alias: 'champion',
      version,
      from: null,
      sha256,
      by: 'rollout-e2e (no CLI)',
      reason: why,
      ...eventStamp(),
    });
    await waitFor(
      `the worker refusing version ${version}`,
      async () => worker!.output().includes(`Refused model version ${version}`),
      30_000,
    ).catch(failed);
  }
  const lastAt = Date.now();
  const refusals = worker!
    .output()
    .split('\n')
    .filter((l) => l.includes('Refused model version'));
  process.stdout.write(`${refusals.join('\n')}\n`);

  // Rows keep arriving, all from churn/1, through the bad moves and after them.
  const after = await waitFor(
    'rows scored after the last bad move',
    async () => {
      const v = await versionsScoredAfter(lastAt + 1000);
      return (v.get('1') ?? 0) >= 20 ? v : undefined;
    },
    30_000,
  ).catch(failed);
  assert.deepEqual(
    [...after.keys()],
    ['1'],
    `rows scored after the bad moves: ${JSON.stringify([...after])}`,
  );
  const during = await versionsScoredAfter(firstAt);
  assert.deepEqual(
    [...during.keys()],
    ['1'],
    `rows scored since the first bad move: ${JSON.stringify([...during])}`,
  );

  const metrics = await (await fetch(`http://127.0.0.1:${workerEnv['METRICS_PORT']}/metrics`)).text();
  assert.equal(
    metricSum(metrics, 'streamscore_model_swap_failures'),
    bad.length,
    metrics
      .split('\n')
      .filter((l) => l.includes('swap'))
      .join('\n'),
  );

  // Still following the alias: a good promotion afterwards is swapped in.
  const goodAt = Date.now();
  const good = await modelCli(
    ['promote', 'churn', '2', '--alias', 'champion', '--reason', 'a good one'],
    cli,
  );
  assert.equal(good.code, 0, good.output);
  await waitFor(
    'rows of churn/2',
    async () => ((await versionsScoredAfter(goodAt)).get('2') ?? 0) > 0,
    30_000,
  ).catch(failed);
});
