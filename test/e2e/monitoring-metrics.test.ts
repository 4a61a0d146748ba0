import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type RunningCli, startCli } from '../support/cli.js';
import {
  alertRules,
  cleanUpMonitored,
  DRIFT_METRICS,
  dashboardQueries,
  exposedNames,
  type MonitoredPipeline,
  monitoredPipeline,
  PROMETHEUS_OWN,
  promqlMetrics,
  scrape,
  seriesValue,
} from '../support/monitoring.js';
import { freePort, uniqueId, waitFor } from '../support/stack.js';
import { createTopic, produce, range } from './commit-support.js';

// A fleet (`run --workers 2`) on the real stack, announced to Prometheus through file-based
// service discovery: the supervisor and each worker write a target file, a SIGKILLed worker's
// file is replaced when it restarts, and a clean stop removes them all. After a small batch
// (one record dead-lettered), every metric the alert rules and the Grafana dashboard query is in
// the live /metrics of the supervisor and its workers, the drift monitor's included.
const p: MonitoredPipeline = monitoredPipeline('mon-metrics', uniqueId());
const sdDir = mkdtempSync(join(tmpdir(), 'streamscore-sd-'));
let fleet: RunningCli | undefined;
let supervisorPort = 0;

interface Target {
  file: string;
  pid: number;
  port: number;
  labels: Record<string, string>;
}

/** The target files of this test's pipeline. */
function targets(): Target[] {
  return readdirSync(sdDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => {
      const [group] = JSON.parse(readFileSync(join(sdDir, f), 'utf8')) as {
        targets: string[];
        labels: Record<string, string>;
      }[];
      const m = /-(\d+)-(\d+)\.json$/.exec(f)!;
      assert.equal(group!.targets[0], `127.0.0.1:${m[2]}`, f);
      return { file: f, pid: Number(m[1]), port: Number(m[2]), labels: group!.labels };
    })
    .filter((t) => t.labels['pipelines'] === p.name);
}

const workers = () => targets().filter((t) => t.labels['role'] === 'worker');

before(async () => {
  await createTopic(p.topic);
  supervisorPort = await freePort();
  fleet = startCli(['run', '--no-backfill', '--workers', '2', '--port', String(supervisorPort), p.file], {
    STREAMSCORE_PROM_SD_DIR: sdDir,
  });
});

after(async () => {
  await fleet?.stop('SIGKILL');
  await cleanUpMonitored(p);
  rmSync(sdDir, { recursive: true, force: true });
});

let metricsText = '';

test('the supervisor and both workers announce themselves; a small batch goes through', async () => {
  await waitFor('a target file for the supervisor and each worker', async () => {
    if (fleet!.child.exitCode !== null) throw new Error(`fleet exited:\n${fleet!.output()}`);
    const t = targets();
    return t.length === 3 && workers().length === 2;
  });
  const sup = targets().find((t) => t.labels['role'] === 'supervisor');
  assert.equal(sup?.port, supervisorPort, 'the supervisor serves on the pipeline metrics port');
  assert.deepEqual(
    workers()
      .map((w) => w.labels['worker'])
      .sort(),
    ['0', '1'],
  );

  await produce(p.topic, range(1, 20), { 7: '{not json' });
  await waitFor('19 predictions and one dead letter counted by the workers', async () => {
    const texts = await Promise.all(workers().map((w) => scrape(w.port)));
    const sum = (name: string) => texts.reduce((s, t) => s + (t ? (seriesValue(t, name) ?? 0) : 0), 0);
    return sum('streamscore_records_out_total') >= 19 && sum('streamscore_dead_lettered_total') >= 1;
  });
  await waitFor('the offsets committed and the lag back to 0', async () => {
    for (const w of workers()) {
      const t = await scrape(w.port);
      if (t === undefined) return false;
      if (seriesValue(t, 'streamscore_consumer_lag', { topic: p.topic }) === 0) {
        assert.ok((seriesValue(t, 'streamscore_offset_commits_total') ?? 0) >= 1);
        return true;
      }
    }
    return false;
  });
  const texts = await Promise.all(
    [supervisorPort, ...workers().map((w) => w.port)].map((port) => scrape(port)),
  );
  metricsText = texts.join('\n');
  assert.equal(seriesValue(metricsText, 'streamscore_shadow_max_flip_rate', { pipeline: p.name }), 0.05);
});

/** Names queried by the rules and the dashboard, minus Prometheus' own `up`. */
function queriedNames(): Map<string, string[]> {
  const wanted = new Map<string, string[]>();
  const add = (where: string, expr: string) => {
    for (const m of promqlMetrics(expr)) {
      if (PROMETHEUS_OWN.has(m)) continue;
      wanted.set(m, [...(wanted.get(m) ?? []), where]);
    }
  };
  for (const r of alertRules()) add(`alert ${r.alert}`, r.expr);
  for (const q of dashboardQueries()) add(q.where, q.expr);
  return wanted;
}

test('every metric the alert rules and the dashboard query is in the live /metrics', () => {
  assert.ok(metricsText !== '', 'scraped the supervisor and the workers');
  const exposed = exposedNames(metricsText);
  const wanted = queriedNames();
  assert.ok(wanted.size > 15, `the rules and dashboard query ${wanted.size} metrics`);
  const missing = [...wanted]
    .filter(([m]) => !exposed.has(m))
    .map(([m, where]) => `${m} (${where.join('; ')})`);
  assert.deepEqual(missing, [], 'queried but not exported');
});

test('the drift metrics (issue 17 parts 1–3) are queried by the rules or the dashboard, and exported', () => {
  const exposed = exposedNames(metricsText);
  const queried = new Set([
    ...alertRules().flatMap((r) => promqlMetrics(r.expr)),
    ...dashboardQueries().flatMap((q) => promqlMetrics(q.expr)),
  ]);
  assert.deepEqual(
    DRIFT_METRICS.filter((m) => !queried.has(m)),
    [],
    'drift metrics no rule or panel shows',
  );
  assert.deepEqual(
    DRIFT_METRICS.filter((m) => !exposed.has(m)),
    [],
    'drift metrics missing from /metrics (a drift window of 10 rows closed)',
  );
});

test('README’s metrics table lists every exported family, and each family this run exercises is exported', () => {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('### Metrics'), readme.indexOf('### Prometheus and alerts'));
  const rows = [...section.matchAll(/^\| `(streamscore_[a-z_]+)` \|[^|]*\|[^|]*\| ([^|]+) \|/gm)].map(
    (m) => ({
      name: m[1]!,
      exported: m[2]!.trim(),
    }),
  );
  assert.ok(rows.length > 20, `${rows.length} rows in README's metrics table`);
  const documented = new Set(rows.map((r) => r.name));
  const exposed = exposedNames(metricsText);
  // A histogram is one family: its _bucket, _sum and _count series.
  const families = new Set<string>();
  for (const n of exposed) {
    if (n === 'target_info') continue;
    const base = n.replace(/_(bucket|sum|count)$/, '');
    families.add(base !== n && exposed.has(`${base}_bucket`) ? base : n);
  }
  assert.deepEqual(
    [...families].filter((f) => !documented.has(f)),
    [],
    'exported but not in README',
  );
  // What this run does not exercise: no swap, no refusal, no shadow backlog, no audit log, no stall.
  const notHere = new Set([
    'after a swap',
    'after a refusal',
    'after a skip',
    'with an audit log',
    'after a stall',
  ]);
  assert.deepEqual(
    rows.filter((r) => !notHere.has(r.exported) && !families.has(r.name)).map((r) => r.name),
    [],
    'in README but not exported',
  );
});

test('a SIGKILLed worker is restarted and counted; its stale target file is replaced', async () => {
  const [victim] = workers();
  process.kill(victim!.pid, 'SIGKILL');
  await waitFor('the supervisor counts the failed worker restarted', async () => {
    const t = await scrape(supervisorPort);
    return t !== undefined && seriesValue(t, 'streamscore_worker_restarts_total', { failed: 'true' }) === 1;
  });
  await waitFor('the restarted worker announced, the dead one’s file gone', async () => {
    const now = workers();
    return now.length === 2 && !now.some((w) => w.pid === victim!.pid);
  });
  assert.ok(
    workers().some((w) => w.labels['worker'] === victim!.labels['worker']),
    'the restarted worker has the slot of the killed one',
  );
});

test('a clean stop removes every target file', async () => {
  const code = await fleet!.stop('SIGTERM');
  assert.equal(code, 0, fleet!.output().slice(-3000));
  assert.deepEqual(targets(), []);
});
