import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { components } from '../../../workers/spec/components.js';
import { renderPipelineJsonSchema } from '../../../workers/spec/json-schema.js';
import { formatProblem } from '../../../workers/spec/problems.js';
import { renderReference } from '../../../workers/spec/reference.js';
import { validatePipelineFile } from '../../../workers/spec/validate.js';

for (const file of readdirSync('pipelines').filter((f) => f.endsWith('.yaml'))) {
  test(`example pipeline pipelines/${file} is valid`, async () => {
    const result = await validatePipelineFile(`pipelines/${file}`, { env: {} });
    assert.deepEqual(result.problems.map(formatProblem), []);
  });
}

for (const [kind, specs] of Object.entries(components)) {
  for (const spec of specs) {
    test(`${kind} ${spec.type}: every documented example parses`, () => {
      for (const example of spec.examples) {
        const r = spec.config.safeParse(example);
        assert.ok(r.success, `${spec.type}: ${JSON.stringify(r.error?.issues)}`);
      }
    });
  }
}

test('schemas/pipeline.schema.json is in sync with the schema (run `streamscore schema`)', () => {
  assert.equal(readFileSync('schemas/pipeline.schema.json', 'utf8'), renderPipelineJsonSchema());
});

test('docs/pipeline-reference.md is in sync with the schema (run `streamscore docs --write`)', () => {
  assert.equal(readFileSync('docs/pipeline-reference.md', 'utf8'), renderReference());
});
