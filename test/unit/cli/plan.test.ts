import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { renderPlan } from '../../../workers/cli/plan-command.js';
import { validatePipelineFile } from '../../../workers/spec/validate.js';

async function plan(file: string): Promise<string[]> {
  const v = await validatePipelineFile(file, { env: {}, keepModel: true });
  assert.deepEqual(v.problems, []);
  try {
    return (await renderPlan(v)).split('\n');
  } finally {
    await v.model?.close();
  }
}

const line = (lines: string[], start: string) => lines.find((l) => l.startsWith(start));

const BASE = 'test/unit/spec/valid/base.yaml';

test('plan shows a ZipMap output as the sequence of maps the model declares, with its classes', async () => {
  const churn = await plan(BASE);
  assert.equal(
    line(churn, '  outputs:'),
    "  outputs: output_label int64 [?]; output_probability seq(map(int64, float32)) of classes 0, 1 (a ZipMap: read as float32 [?, 2] from 'proba_output')",
  );
  const fraud = await plan('pipelines/fraud-scoring.yaml');
  assert.equal(
    line(fraud, '  outputs:'),
    "  outputs: output_label string [?]; output_probability seq(map(string, float32)) of classes 'fraud', 'legit' (a ZipMap: read as float32 [?, 2] from 'proba_output')",
  );
});

test('plan shows a tensor output as it is', async () => {
  const demand = await plan('pipelines/demand-forecast.yaml');
  assert.equal(line(demand, '  outputs:'), '  outputs: variable float32 [?, 1]');
});

test('plan shows the model path as written in the pipeline, then resolved, with its sha256', async () => {
  const churn = await plan(BASE);
  assert.equal(
    line(churn, 'model:'),
    `model: churn v1 — ../../../../pipelines/models/churn/1/model.onnx (${resolve('pipelines/models/churn/1/model.onnx')}, sha256 7f918d97fb5b)`,
  );
});

test('plan of a pipeline following an alias lists every version it may point to, and the shadow', async () => {
  const churn = await plan('pipelines/churn-scoring.yaml');
  assert.equal(
    line(churn, 'model:'),
    'model: churn alias champion — registry models, control topic streamscore.control (signature below: version 3)',
  );
  const i = churn.indexOf('  primary: alias champion may point to');
  assert.ok(i > 0, churn.join('\n'));
  assert.deepEqual(churn.slice(i + 1, i + 4), [
    '    1      ✓ fits (sha256 7f918d97fb5b)',
    '    2      ✓ fits (sha256 6420f8c55eb0)',
    '    3      ✓ fits (sha256 4480e601c0bb)',
  ]);
  assert.ok(churn.includes('  shadow: alias challenger may point to'));
  assert.ok(
    line(
      churn,
      '  shadow compares churn_probability at threshold 0.5 and label churn_label → table ml.churn_scoring__shadow',
    ),
  );
});
