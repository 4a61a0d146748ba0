import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { components } from '../../../workers/spec/components.js';
import { renderPipelineJsonSchema } from '../../../workers/spec/json-schema.js';
import { formatProblem } from '../../../workers/spec/problems.js';
import { renderReference } from '../../../workers/spec/reference.js';
import { validatePipelineFile } from '../../../workers/spec/validate.js';

// The pipelines; their `*.test.yaml` files are run by the examples' `streamscore test` test.
for (const file of readdirSync('pipelines').filter((f) => f.endsWith('.yaml') && !f.endsWith('.test.yaml'))) {
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

// Compared by line, not with assert.equal: node's diff of two 40 kB strings runs for minutes.
function assertSameText(file: string, expected: string, fix: string): void {
  const actual = readFileSync(file, 'utf8').split('\n');
  const want = expected.split('\n');
  const at = want.findIndex((line, i) => actual[i] !== line);
  const line = at === -1 && actual.length !== want.length ? want.length : at;
  assert.ok(
    line === -1,
    `${file} is out of date (run \`${fix}\`); first difference at line ${line + 1}: expected ${JSON.stringify(want[line])}, found ${JSON.stringify(actual[line])}`,
  );
}

test('schemas/pipeline.schema.json is in sync with the schema (run `streamscore schema`)', () => {
  assertSameText('schemas/pipeline.schema.json', renderPipelineJsonSchema(), 'streamscore schema');
});

test('docs/pipeline-reference.md is in sync with the schema (run `streamscore docs --write`)', () => {
  assertSameText('docs/pipeline-reference.md', renderReference(), 'streamscore docs --write');
});
