import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { formatProblem } from '../../../workers/spec/problems.js';
import { validatePipelineFile } from '../../../workers/spec/validate.js';

// Each invalid/<case>.yaml comes with <case>.expected: the exact problems, one per line; the
// working directory (the repository) is written <repo> in them.
const dir = join(import.meta.dirname, 'invalid');
const cases = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

test('the corpus has at least 40 invalid pipelines', () => {
  assert.ok(cases.length >= 40, `only ${cases.length} cases`);
});

for (const name of cases) {
  test(`invalid pipeline: ${name}`, async () => {
    const file = relative(process.cwd(), join(dir, name));
    const expected = readFileSync(join(dir, name.replace(/\.yaml$/, '.expected')), 'utf8')
      .trim()
      .split('\n');
    const result = await validatePipelineFile(file, { env: { PATH: '' } });
    assert.equal(result.pipeline, undefined);
    const problems = result.problems.map((p) => formatProblem(p).replaceAll(process.cwd(), '<repo>'));
    assert.deepEqual(problems, expected);
  });
}

test('the base of the corpus is itself valid', async () => {
  const file = relative(process.cwd(), join(import.meta.dirname, 'valid', 'base.yaml'));
  const result = await validatePipelineFile(file, { env: {} });
  assert.deepEqual(result.problems.map(formatProblem), []);
  assert.ok(result.pipeline);
});
