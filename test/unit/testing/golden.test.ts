import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ModelRegistry } from '../../../workers/inference/index.js';
import { verifyGolden, verifyRegistryGoldens } from '../../../workers/testing/golden.js';

const registry = new ModelRegistry();

test('every example model version agrees with its golden.json', async () => {
  const done = new Map();
  const all = await verifyRegistryGoldens('pipelines/models', registry, done);
  assert.deepEqual(
    all.map((g) => [g.file, g.rows, g.problems]),
    ['churn/1', 'churn/2', 'churn/3', 'demand/1', 'fraud/1', 'ltv/1'].map((v) => [
      `pipelines/models/${v}/golden.json`,
      20,
      [],
    ]),
  );
  // A version already checked is not checked again.
  assert.deepEqual(await verifyRegistryGoldens('pipelines/models', registry, done), []);
});

test('a golden output off by more than 1e-5, a wrong label or another sha256 is reported', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'streamscore-golden-'));
  cpSync('pipelines/models/churn/1', join(dir, 'churn', '1'), { recursive: true });
  const file = join(dir, 'churn', '1', 'golden.json');
  const g = JSON.parse(readFileSync(file, 'utf8'));
  g.probabilities[3][1] += 0.001;
  g.label[5] = 1 - g.label[5];
  g.sha256 = '0'.repeat(64);
  writeFileSync(file, JSON.stringify(g));
  const r = await verifyGolden(join(dir, 'churn', '1', 'model.onnx'), registry);
  assert.equal(r!.problems.length, 3, r!.problems.join('\n'));
  assert.match(r!.problems[0]!, /^sha256: the manifest says 7f918d97.*, golden\.json was made from 0{64}$/);
  assert.match(
    r!.problems[1]!,
    /^row 3 probabilities\[1\] \(class 1\): expected 0\.\d+, got 0\.\d+ \(\|diff\| > 0\.00001\)$/,
  );
  assert.match(r!.problems[2]!, /^row 5 label: expected [01], got [01]$/);
});
