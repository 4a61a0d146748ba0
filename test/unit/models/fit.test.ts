import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readVersion } from '../../../workers/models/catalog.js';
import { checkAliasFit, checkVersionFit } from '../../../workers/models/fit.js';
import { aliasPipeline as makeAliasPipeline, tmpRegistry } from './fixtures.js';

const { registry, pipelines, cleanup } = tmpRegistry('fit');
const tmpDirs: string[] = [];
const aliasPipeline = (name: string, opts: { alias?: string; shadow?: string; topic?: string }) =>
  makeAliasPipeline(pipelines, registry, name, opts);

after(() => {
  cleanup();
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe('model fit', () => {
  const fixed = makeAliasPipeline(join(pipelines, '..'), registry, 'fixed-version', { version: '1' });

  it('a version with the same features and outputs fits a fixed-version pipeline', async () => {
    assert.equal(await checkVersionFit(fixed, readVersion(registry, 'churn', '2')), undefined);
  });

  it('a version of another width does not, and says so', async () => {
    const error = await checkVersionFit(fixed, readVersion(registry, 'churn', '3'));
    assert.ok(error, 'expected a misfit');
    assert.match(error, /\b4\b/);
    assert.match(error, /\b8\b/);
  });

  it('checks exactly the pipelines that follow the alias on the topic, primary or shadow', async () => {
    const primary = aliasPipeline('follows-champion', { alias: 'champion', topic: 'ctl-fit' });
    const shadow = aliasPipeline('shadows-champion', { shadow: 'champion', topic: 'ctl-fit' });
    aliasPipeline('other-topic', { alias: 'champion', topic: 'ctl-other' });
    aliasPipeline('follows-challenger', { alias: 'challenger', topic: 'ctl-fit' });
    const check = (version: string) =>
      checkAliasFit({
        pipelinesDir: pipelines,
        model: 'churn',
        alias: 'champion',
        controlTopic: 'ctl-fit',
        candidate: readVersion(registry, 'churn', version),
      });
    const good = await check('2');
    assert.deepEqual(
      good.map((f) => [f.file, f.role, f.error]),
      [
        [primary, 'primary', undefined],
        [shadow, 'shadow', undefined],
      ],
    );
    const bad = await check('3');
    assert.deepEqual(
      bad.map((f) => [f.pipeline, f.role]),
      [
        ['follows-champion', 'primary'],
        ['shadows-champion', 'shadow'],
      ],
    );
    for (const f of bad) assert.match(f.error ?? '', /\b4\b.*\b8\b|\b8\b.*\b4\b/s);
  });

  it('a pipeline whose own registry lacks the version, or holds other bytes, does not fit', async () => {
    const other = mkdtempSync(join(tmpdir(), 'streamscore-fit-other-'));
    tmpDirs.push(other);
    const candidate = { ...readVersion(registry, 'churn', '2'), dir: join(other, 'churn', '2') };
    const fits = await checkAliasFit({
      pipelinesDir: pipelines,
      model: 'churn',
      alias: 'challenger',
      controlTopic: 'ctl-fit',
      candidate,
    });
    assert.equal(fits.length, 1);
    assert.equal(fits[0]?.error, undefined, 'same sha256 in the pipeline’s registry');
    const changed = { ...candidate, sha256: 'b'.repeat(64) };
    const [f] = await checkAliasFit({
      pipelinesDir: pipelines,
      model: 'churn',
      alias: 'challenger',
      controlTopic: 'ctl-fit',
      candidate: changed,
    });
    assert.match(f?.error ?? '', /holds a different churn\/2/);
    const [g] = await checkAliasFit({
      pipelinesDir: pipelines,
      model: 'churn',
      alias: 'challenger',
      controlTopic: 'ctl-fit',
      candidate: { ...candidate, version: '9' },
    });
    assert.match(g?.error ?? '', new RegExp(`its registry ${registry} has no churn/9`));
  });
});
