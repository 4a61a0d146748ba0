import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { silentLogger } from '../../../workers/core/silent-logger.js';
import { ModelError, ModelRegistry } from '../../../workers/inference/index.js';
import { PipelineModels } from '../../../workers/rollout/pipeline-models.js';
import { validatePipelineFile } from '../../../workers/spec/validate.js';
import { FakeControlFeed, pipelineWithModel, tmpRegistry } from '../../support/rollout.js';

const registry = tmpRegistry({ '3': 'misfit', '4': 'corrupt' });
const registryModels = new ModelRegistry();
const cleanups: (() => void)[] = [registry.remove];
after(async () => {
  for (const c of cleanups) c();
  await registryModels.close();
});

async function open(
  model: string,
  feed: FakeControlFeed,
  onFailed?: (version: string, err: unknown) => void,
) {
  const p = pipelineWithModel(model);
  cleanups.push(p.remove);
  const v = await validatePipelineFile(p.file, { env: {} });
  assert.deepEqual(v.problems, []);
  return PipelineModels.create({
    file: p.file,
    pipeline: v.pipeline!,
    checked: v.checked!,
    registry: registryModels,
    logger: silentLogger,
    control: feed,
    onSwapFailed: (_role, version, err) => onFailed?.(version, err),
  });
}

const aliasModel = (extra = '') => `    name: churn
    alias: champion
    registry: ${registry.dir}
${extra}    outputs:
      churn_probability: probabilities[1]
      churn_label: label
`;

const features = new Float32Array([24, 99, 0, 3, 5, 10, 0, 1]);

test('a pipeline follows its alias: a move swaps at the next lease, a leased version stays usable until released', async () => {
  const feed = new FakeControlFeed();
  feed.promote('churn', 'champion', '1');
  const pm = await open(aliasModel(), feed);
  try {
    const held = pm.lease();
    assert.equal(held.primary.info.version, '1');
    assert.match(held.primary.info.sha256 ?? '', /^7f918d97/);
    feed.promote('churn', 'champion', '2');
    await pm.settled();
    assert.equal(pm.current('primary')?.version, '2');
    // The batch that leased version 1 before the move finishes on version 1.
    const out = await held.primary.predictor.predict(features, 1);
    assert.equal(out['churn_probability']!.length, 1);
    held.primary.release();
    const next = pm.lease();
    assert.equal(next.primary.info.version, '2');
    assert.match(next.primary.info.sha256 ?? '', /^6420f8c5/);
    // churn/2 is churn/1 exported without ZipMap: the very same score.
    const again = await next.primary.predictor.predict(features, 1);
    assert.equal(again['churn_probability']![0], out['churn_probability']![0]);
    next.primary.release();
  } finally {
    await pm.close();
  }
});

test('a version that does not fit, or whose sha256 is not its manifest’s, is refused and the current one keeps scoring', async () => {
  const feed = new FakeControlFeed();
  feed.promote('churn', 'champion', '2');
  const refused: { version: string; err: unknown }[] = [];
  const pm = await open(aliasModel(), feed, (version, err) => refused.push({ version, err }));
  try {
    feed.promote('churn', 'champion', '3');
    await pm.settled();
    assert.equal(pm.current('primary')?.version, '2');
    feed.promote('churn', 'champion', '4');
    await pm.settled();
    assert.equal(pm.current('primary')?.version, '2');
    assert.deepEqual(
      refused.map((r) => [r.version, ModelError.is(r.err) ? r.err.code : String(r.err)]),
      [
        ['3', 'MODEL_SIGNATURE_MISMATCH'],
        ['4', 'MODEL_SHA_MISMATCH'],
      ],
    );
    assert.match(
      String((refused[1]!.err as Error).message),
      /sha256 is [0-9a-f]{64}, its manifest says 7f918d97/,
    );
  } finally {
    await pm.close();
  }
});

test('a primary alias that was never set stops the start with the command that sets it', async () => {
  const feed = new FakeControlFeed();
  await assert.rejects(
    open(aliasModel(), feed),
    (e: unknown) =>
      ModelError.is(e) &&
      e.code === 'MODEL_ALIAS_UNSET' &&
      e.message.includes('streamscore model promote churn <version> --alias champion'),
  );
});

test('a shadow alias not set yet runs without a shadow, and gets one when it is set', async () => {
  const feed = new FakeControlFeed();
  feed.promote('churn', 'champion', '1');
  const pm = await open(
    aliasModel(
      '    shadow: { alias: challenger, compare: { score: churn_probability, label: churn_label } }\n',
    ),
    feed,
  );
  try {
    assert.equal(pm.current('shadow'), undefined);
    const l = pm.lease();
    assert.equal(l.shadow, undefined);
    l.primary.release();
    feed.promote('churn', 'challenger', '2');
    await pm.settled();
    assert.equal(pm.current('shadow')?.version, '2');
    assert.equal(pm.current('primary')?.version, '1');
  } finally {
    await pm.close();
  }
});

test('suspend and resume events close and open the pipeline’s gate; other pipelines’ events do not', async () => {
  const feed = new FakeControlFeed();
  feed.promote('churn', 'champion', '1');
  const pm = await open(aliasModel(), feed);
  try {
    const reason = () => pm.gate.suspended?.reason;
    feed.emit({ type: 'pipeline', action: 'suspend', pipeline: 'other' });
    assert.equal(reason(), undefined);
    feed.emit({ type: 'pipeline', action: 'suspend', pipeline: 'churn-test', reason: 'risk' });
    assert.equal(reason(), 'risk');
    feed.emit({ type: 'pipeline', action: 'resume', pipeline: 'churn-test' });
    assert.equal(reason(), undefined);
  } finally {
    await pm.close();
  }
});

test('a pipeline started while suspended starts closed', async () => {
  const feed = new FakeControlFeed();
  feed.promote('churn', 'champion', '1');
  feed.emit({ type: 'pipeline', action: 'suspend', pipeline: 'churn-test', reason: 'incident' });
  const pm = await open(aliasModel(), feed);
  try {
    assert.equal(pm.gate.suspended?.reason, 'incident');
  } finally {
    await pm.close();
  }
});
