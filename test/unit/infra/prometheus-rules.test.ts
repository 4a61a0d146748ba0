import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { alertRules, dashboardQueries, promqlMetrics } from '../../support/monitoring.js';

// The alert rules (infra/prometheus/*.rules.yml) and the Grafana dashboard (infra/grafana/) as
// Prometheus itself reads them: promtool checks the rules, runs their unit tests
// (infra/prometheus/tests/*.yml) and parses every dashboard query. `make deps` installs promtool
// (Debian's prometheus package); without it these tests are skipped, saying so.
const RULES = 'infra/prometheus';
const TESTS = join(RULES, 'tests');
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const missing =
  promtool.error === undefined ? false : 'promtool is not installed (make deps installs Debian’s prometheus)';
const scratch = mkdtempSync(join(tmpdir(), 'streamscore-promtool-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function run(args: string[], cwd = '.'): { code: number | null; out: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const ruleFiles = readdirSync(RULES)
  .filter((f) => f.endsWith('.rules.yml'))
  .map((f) => join(RULES, f));
const testFiles = readdirSync(TESTS)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => join(TESTS, f));

test('promtool check rules accepts every rule file', { skip: missing }, () => {
  assert.ok(ruleFiles.length > 0, 'no infra/prometheus/*.rules.yml');
  const r = run(['check', 'rules', ...ruleFiles]);
  assert.equal(r.code, 0, r.out);
});

test('the rules pass their unit tests (promtool test rules)', { skip: missing }, () => {
  assert.ok(testFiles.length > 0, 'no infra/prometheus/tests/*.yml');
  const r = run(['test', 'rules', ...testFiles]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS/);
});

test('every alert has a unit test in which it fires', () => {
  const firing = new Set<string>();
  for (const f of testFiles) {
    const doc = parse(readFileSync(f, 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    for (const t of doc.tests)
      for (const a of t.alert_rule_test ?? []) if ((a.exp_alerts ?? []).length > 0) firing.add(a.alertname);
  }
  const untested = alertRules()
    .map((r) => r.alert)
    .filter((a) => !firing.has(a));
  assert.deepEqual(untested, [], `alerts without a firing test case in ${TESTS}`);
});

test('the rules cover the issue’s alerts', () => {
  const names = alertRules().map((r) => r.alert);
  for (const a of [
    'StreamscoreConsumerLagGrowing',
    'StreamscoreNoCommits',
    'StreamscoreDeadLetterRate',
    'StreamscoreSinkRetryStorm',
    'StreamscoreFeatureDrift',
    'StreamscoreWorkerRestarts',
    'StreamscoreShadowFlipRate',
  ])
    assert.ok(names.includes(a), `${a} is missing from ${RULES}`);
});

test('every dashboard query is PromQL Prometheus parses, naming at least one streamscore metric', {
  skip: missing,
}, () => {
  const queries = dashboardQueries();
  assert.ok(queries.length > 10, 'the dashboard has queries');
  const panels = queries.filter((q) => !q.where.includes(': variable '));
  for (const q of queries)
    assert.ok(
      promqlMetrics(q.expr).some((m) => m.startsWith('streamscore_')),
      `${q.where}: names no metric: ${q.expr}`,
    );
  // Grafana's variables as Prometheus would see them once Grafana substitutes them.
  const rules = panels.map((q, i) => ({
    record: `dashboard:query_${i}`,
    expr: q.expr.replaceAll('$__rate_interval', '5m').replaceAll('$pipeline', '.*'),
  }));
  const file = join(scratch, 'dashboard.rules.yml');
  writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
  const r = run(['check', 'rules', file]);
  assert.equal(r.code, 0, r.out);
});

test('the dashboard imports into Grafana: its data source is an input, panel ids are unique', () => {
  const d = JSON.parse(readFileSync('infra/grafana/streamscore.json', 'utf8')) as {
    __inputs: { name: string; pluginId: string }[];
    panels: {
      id: number;
      type: string;
      datasource?: { uid: string };
      targets?: { datasource?: { uid: string } }[];
    }[];
  };
  assert.deepEqual(
    d.__inputs.map((i) => [i.name, i.pluginId]),
    [['DS_PROMETHEUS', 'prometheus']],
  );
  const ids = d.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids repeat');
  for (const p of d.panels.filter((x) => x.type !== 'row')) {
    assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `panel ${p.id}`);
    for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, '${DS_PROMETHEUS}', `panel ${p.id}`);
  }
});

test('promqlMetrics names the metrics of an expression, not its functions, labels or strings', () => {
  assert.deepEqual(
    promqlMetrics(
      'sum by (pipeline) (rate(streamscore_errors_total{stage="sink",x="streamscore_no"}[5m])) > on (pipeline) up',
    ),
    ['streamscore_errors_total', 'up'],
  );
  assert.deepEqual(promqlMetrics('histogram_quantile(0.9, sum by (le) (rate(streamscore_a_bucket[5m])))'), [
    'streamscore_a_bucket',
  ]);
});
