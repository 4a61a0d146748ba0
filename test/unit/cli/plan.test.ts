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

test('plan shows a ZipMap output as the sequence of maps the model declares, with its classes', async () => {
  const churn = await plan('pipelines/churn-scoring.yaml');
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

test('plan shows the model path as written in the pipeline, then resolved', async () => {
  const churn = await plan('pipelines/churn-scoring.yaml');
  assert.equal(
    line(churn, 'model:'),
    `model: churn v1 — models/churn/1/model.onnx (${resolve('pipelines/models/churn/1/model.onnx')})`,
  );
});
