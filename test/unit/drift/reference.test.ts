import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { ModelError } from '../../../workers/inference/errors.js';
import { readVersion } from '../../../workers/models/catalog.js';

const MODELS = resolve('pipelines/models');
const registry = mkdtempSync(join(tmpdir(), 'streamscore-drift-ref-'));
after(() => rmSync(registry, { recursive: true, force: true }));

/** churn/1 copied with its manifest text edited by `edit`; returns the error reading it throws. */
function brokenManifest(version: string, edit: (text: string) => string): ModelError {
  const dir = join(registry, 'churn', version);
  cpSync(join(MODELS, 'churn', '1'), dir, { recursive: true });
  const path = join(dir, 'manifest.yaml');
  writeFileSync(path, edit(readFileSync(path, 'utf8')).replace('version: 1', `version: ${version}`));
  try {
    readVersion(registry, 'churn', version);
  } catch (err) {
    assert.ok(ModelError.is(err), String(err));
    return err;
  }
  assert.fail('expected a ModelError');
}

describe('reference distributions in model manifests', () => {
  test('every example manifest has one histogram per feature and per output, counts adding up', () => {
    for (const [name, version, outputs] of [
      ['churn', '1', ['label', 'probabilities[0]', 'probabilities[1]']],
      ['churn', '2', ['label', 'probabilities[0]', 'probabilities[1]']],
      ['churn', '3', ['label', 'probabilities[0]', 'probabilities[1]']],
      ['fraud', '1', ['label', 'probabilities[0]', 'probabilities[1]']],
      ['ltv', '1', ['value']],
      ['demand', '1', ['value']],
    ] as const) {
      const v = readVersion(MODELS, name, version);
      const d = v.distributions;
      assert.ok(d, `${name}/${version} has distributions`);
      assert.deepEqual(Object.keys(d.features), v.features);
      assert.deepEqual(Object.keys(d.outputs), outputs);
      for (const h of Object.values(d.features))
        assert.equal(
          h.counts.reduce((a, b) => a + b),
          d.rows,
        );
    }
    const churn = readVersion(MODELS, 'churn', '1').distributions!;
    assert.deepEqual(churn.features['plan_basic'], {
      kind: 'categorical',
      values: [0, 1],
      counts: churn.features['plan_basic']!.counts,
    });
    assert.equal(churn.features['tenure_months']!.kind, 'numeric');
    const fraud = readVersion(MODELS, 'fraud', '1').distributions!;
    assert.deepEqual((fraud.outputs['label'] as { values: unknown[] }).values, ['fraud', 'legit']);
  });

  test('a malformed histogram is refused naming the manifest and the field', () => {
    const counts = brokenManifest('11', (t) =>
      t.replace(/(tenure_months:\n\s+kind: numeric\n\s+edges:\n)\s+- 7\.0\n/, '$1'),
    );
    assert.equal(counts.code, 'MODEL_LOAD_FAILED');
    assert.match(counts.message, /churn\/11\/manifest\.yaml/);
    assert.match(
      counts.message,
      /distributions\.features\.tenure_months\.counts: expected 9 counts \(one more than edges\), got 10/,
    );
    const total = brokenManifest('12', (t) =>
      t.replace('distributions:\n  rows: 4000', 'distributions:\n  rows: 4001'),
    );
    assert.match(
      total.message,
      /distributions\.features\.tenure_months\.counts: expected counts adding up to 4001 \(rows\), got 4000/,
    );
    const kind = brokenManifest('13', (t) => t.replace('kind: categorical', 'kind: nominal'));
    assert.match(kind.message, /distributions\.features\.is_enterprise\.kind/);
  });
});
