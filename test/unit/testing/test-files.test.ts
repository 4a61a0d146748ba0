import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { ModelRegistry } from '../../../workers/inference/index.js';
import { junitReport, textReport } from '../../../workers/testing/report.js';
import { runTestFile } from '../../../workers/testing/runner.js';
import { runCli } from '../../support/cli.js';

const churn = resolve('pipelines/churn-scoring.yaml');
const registry = new ModelRegistry();
const dir = mkdtempSync(join(tmpdir(), 'streamscore-test-'));

const ROW = `
      customer_id: 7
      email: a@example.com
      plan: pro
      signup_date: 2024-06-01
      monthly_spend: 100
      seats: 4
      tickets_90d: 1
      last_login_at: 2025-05-31T00:00:00Z
      is_active: true
      external_id: null
      updated_at: null`;

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

function header(): string {
  return `pipeline: ${churn}\nmodel_version: 1\nsource_ts: 2025-06-01T00:00:00Z\ncases:\n`;
}

test('the example test files pass, golden checks included', async () => {
  for (const f of ['churn-scoring', 'fraud-scoring', 'demand-forecast']) {
    const r = await runTestFile(`pipelines/${f}.test.yaml`, { registry });
    assert.deepEqual(r.problems, [], f);
    assert.ok(r.cases.length >= 5, f);
    for (const c of r.cases) assert.deepEqual([c.name, c.missing, c.mismatches], [c.name, false, []]);
    assert.deepEqual(r.golden?.problems, [], f);
  }
});

test('a failing expectation names the feature, what was expected and what came out', async () => {
  const f = file(
    'fail.test.yaml',
    `${header()}  - name: wrong tenure
    row:${ROW}
    expect:
      features: { tenure_months: 12, seats: 4, plan_pro: true }
      outputs: { churn_label: 1, churn_probability: { value: 0.9, abs: 0.01 } }
`,
  );
  const r = await runTestFile(f, { registry });
  assert.deepEqual(r.problems, []);
  const c = r.cases[0]!;
  const byWhat = new Map(c.mismatches.map((m) => [m.what, m]));
  assert.deepEqual([...byWhat.keys()].sort(), [
    'feature tenure_months',
    'output churn_label',
    'output churn_probability',
  ]);
  assert.equal(byWhat.get('feature tenure_months')!.expected, '12');
  assert.match(byWhat.get('feature tenure_months')!.got, /^11\.9\d+$/);
  assert.equal(byWhat.get('output churn_label')!.got, '0');
  assert.match(byWhat.get('output churn_probability')!.expected, /^0\.9 ± \(abs 0\.01\)$/);
  const text = textReport([r]);
  assert.match(text, new RegExp(`${f.replace(/[.]/g, '\\.')}:5:5: wrong tenure`));
  assert.match(text, /feature tenure_months: expected 12, got 11\.9\d+/);
  assert.match(text, /0\/1 case\(s\) pass/);
  const xml = junitReport([r]);
  assert.match(
    xml,
    /<testcase classname="[^"]+" name="wrong tenure"[^>]*>\n\s+<failure message="[^"]*tenure_months/,
  );
});

test('each kind of outcome is checked: dead letter reason, delete key, skipped', async () => {
  const f = file(
    'kinds.test.yaml',
    `${header()}  - name: expects a delete but it is scored
    row:${ROW}
    expect: { deleted: true }
  - name: wrong dead-letter reason
    row:${ROW.replace('signup_date: 2024-06-01', 'signup_date: null')}
    expect: { dead_letter: { code: FEATURE_NULL, reason: seats } }
  - name: wrong delete key
    op: d
    row:${ROW}
    expect: { deleted: true, key: 8 }
  - name: a feature and an output the pipeline does not have
    row:${ROW}
    expect: { features: { tenure: 1 }, outputs: { score: 0.5 } }
`,
  );
  const r = await runTestFile(f, { registry });
  const [a, b, c, d] = r.cases.map((x) => x.mismatches);
  assert.deepEqual(a, [{ what: 'outcome', expected: 'deleted', got: 'scored' }]);
  assert.equal(b![0]!.what, 'dead-letter reason');
  assert.match(b![0]!.got, /tenure_months is null/);
  assert.deepEqual(c, [{ what: 'key', expected: '8', got: '7' }]);
  assert.deepEqual(
    d!.map((m) => [m.what, m.got.replace(/\(.*\)/, '(…)')]),
    [
      ['feature tenure', 'no such feature (…)'],
      ['output score', 'no such output (…)'],
    ],
  );
  assert.match(d![0]!.got, /the pipeline has tenure_months, monthly_spend, is_enterprise/);
});

test('--update records what happens, keeps comments, and the file then passes unchanged', async () => {
  const f = file(
    'snap.test.yaml',
    `# top comment\n${header()}  # the first case\n  - name: scored
    row:${ROW}
  - name: dead
    row:${ROW.replace('signup_date: 2024-06-01', 'signup_date: null')}
  - name: stale
    row:${ROW}
    expect: { features: { seats: 5 } }
`,
  );
  const first = await runTestFile(f, { registry, update: true });
  assert.deepEqual(
    first.cases.map((c) => [c.name, c.updated]),
    [
      ['scored', true],
      ['dead', true],
      ['stale', true],
    ],
  );
  const written = readFileSync(f, 'utf8');
  assert.match(written, /^# top comment\n/);
  assert.match(written, /# the first case/);
  assert.match(written, /dead_letter: \{ code: FEATURE_NULL \}/);
  assert.match(written, /seats: 4/);
  const again = await runTestFile(f, { registry, update: true });
  assert.deepEqual(
    again.cases.map((c) => [c.updated, c.mismatches.length, c.missing]),
    [
      [false, 0, false],
      [false, 0, false],
      [false, 0, false],
    ],
  );
  assert.equal(readFileSync(f, 'utf8'), written);
});

test('malformed test files get file:line:col problems', async () => {
  const cases: [string, string, RegExp][] = [
    ['indent', `${header()}  - name: x\n     row: {}\n`, /indent\.test\.yaml:6:\d+: /],
    [
      'unknown',
      `${header()}  - name: x\n    rows: {}\n`,
      /unknown\.test\.yaml:6:5: cases\[0\]\.rows: unknown key 'rows' \(did you mean 'row'/,
    ],
    [
      'two-inputs',
      `${header()}  - name: x\n    row: {}\n    fixture: f.json\n`,
      /two-inputs\.test\.yaml:5:5: cases\[0\]: expected exactly one input \(row, envelope or fixture\), got row and fixture/,
    ],
    [
      'bad-column',
      `${header()}  - name: x\n    row:${ROW.replace('seats: 4', 'seats: four')}\n    expect: { skipped: true }\n`,
      /bad-column\.test\.yaml:12:14: cases\[0\]\.row\.seats: expected an integer \(int32\) or null, found "four"/,
    ],
    [
      'missing-column',
      `${header()}  - name: x\n    row:${ROW.replace(/\n\s+seats: 4/, '')}\n    expect: { skipped: true }\n`,
      /missing-column\.test\.yaml:7:7: cases\[0\]\.row\.seats: expected an integer \(int32\) or null \(a column of the row\), found nothing/,
    ],
    [
      'tolerance',
      `${header()}  - name: x\n    row: {}\n    expect: { outputs: { p: { value: 1 } } }\n`,
      /tolerance\.test\.yaml:7:29: cases\[0\]\.expect\.outputs\.p: expected a tolerance with abs or rel/,
    ],
    [
      'no-ts',
      `pipeline: ${churn}\nmodel_version: 1\ncases:\n  - name: x\n    row:${ROW}\n    expect: { skipped: true }\n`,
      /no-ts\.test\.yaml:6:7: cases\[0\]\.row: a row case needs source_ts/,
    ],
    [
      'alias',
      `pipeline: ${churn}\ncases:\n  - name: x\n    row: {}\n    expect: { skipped: true }\n`,
      /alias\.test\.yaml:1:11: pipeline: the pipeline follows alias champion.*model_version \(versions: 1, 2, 3\)/,
    ],
  ];
  const fixture = file(
    'one.fixture.json',
    JSON.stringify({
      format: 'streamscore.fixture/v1',
      pipeline: 'churn-scoring',
      topic: 't',
      captured_at: '2025-01-01T00:00:00Z',
      redacted: [],
      schemas: {},
      events: [{ partition: 0, offset: '1', timestamp: '0', encoding: 'json', key: null, value: null }],
    }),
  );
  file('bad.fixture.json', '{"format": "other"}');
  cases.push(
    [
      'fixture-index',
      `${header()}  - name: x\n    fixture: ${fixture}\n    events: [0, 3]\n`,
      /fixture-index\.test\.yaml:7:17: cases\[0\]\.events\[1\]: expected an event index below 1 \(the fixture's events\), got 3/,
    ],
    [
      'fixture-bad',
      `${header()}  - name: x\n    fixture: bad.fixture.json\n`,
      /fixture-bad\.test\.yaml:6:14: cases\[0\]\.fixture: .*bad\.fixture\.json: not a streamscore\.fixture\/v1 fixture: format: /,
    ],
  );
  for (const [name, text, want] of cases) {
    const r = await runTestFile(file(`${name}.test.yaml`, text), { registry });
    assert.ok(r.problems.length > 0, name);
    assert.match(textReport([r]), want, name);
  }
});

test('streamscore test exits 1 on a failing case and 0 when all pass; --reporter junit writes XML', async () => {
  const bad = file(
    'cli-bad.test.yaml',
    `${header()}  - name: wrong
    row:${ROW}
    expect: { features: { seats: 5 } }
`,
  );
  const failing = await runCli(['test', bad]);
  assert.equal(failing.code, 1, failing.output);
  assert.match(failing.output, /feature seats: expected 5, got 4/);
  const xml = join(dir, 'report.xml');
  const passing = await runCli([
    'test',
    'pipelines/demand-forecast.test.yaml',
    '--reporter',
    'junit',
    '--output',
    xml,
  ]);
  assert.equal(passing.code, 0, passing.output);
  assert.match(
    readFileSync(xml, 'utf8'),
    /<testsuite name="pipelines\/demand-forecast\.test\.yaml" tests="6" failures="0"/,
  );
});

test('1,000 cases run in one batch through the stream path', async () => {
  const plans = ['basic', 'pro', 'enterprise'];
  let text = header();
  for (let i = 0; i < 1000; i++) {
    text += `  - name: c${i}\n    row: { customer_id: ${i}, email: null, plan: ${plans[i % 3]}, signup_date: 2024-0${1 + (i % 9)}-1${i % 10}, monthly_spend: ${i % 500}.25, seats: ${1 + (i % 40)}, tickets_90d: ${i % 6}, last_login_at: 2025-05-0${1 + (i % 9)}T10:00:00Z, is_active: true, external_id: null, updated_at: null }\n`;
  }
  const f = file('thousand.test.yaml', text);
  const started = performance.now();
  const r = await runTestFile(f, { registry, update: true });
  const ms = performance.now() - started;
  assert.equal(r.cases.length, 1000);
  assert.ok(r.cases.every((c) => c.updated));
  const again = await runTestFile(f, { registry });
  assert.ok(again.cases.every((c) => c.mismatches.length === 0 && !c.missing));
  process.stdout.write(
    `# 1,000 cases: ${ms.toFixed(0)} ms with --update, ${again.ms.toFixed(0)} ms scoring\n`,
  );
});
