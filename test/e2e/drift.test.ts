import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import type { DriftSnapshot } from '../../workers/drift/monitor.js';
import { ensureAliases } from '../support/aliases.js';
import { startChurnSource } from '../support/churn.js';
import { insertPopulation, Sampler } from '../support/churn-population.js';
import { type RunningCli, runCli, startCli } from '../support/cli.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import { metricsText, metricValue } from '../support/shadow-e2e.js';
import {
  deleteTopics,
  dropDebezium,
  freePort,
  readTopic,
  removeChurnObjects,
  testKafka,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';

// Drift on the real stack. A worker of a churn pipeline copy (windows of 2,000 rows, an alarm
// topic) scores CRM customers drawn from the churn model's training population, inserted through
// Debezium: two windows, no alarm. Then the CRM renames the basic plan ('starter'), so plan_basic
// is 0 for every new customer: within two windows plan_basic alarms, no other feature does, and
// the alarm shows in /metrics, in `streamscore drift` (exit 1) and on the alarm topic.
const id = uniqueId();
const source = `crm.customers_${id}`;
const prefix = `drift${id}`;
const topic = `${prefix}.${source}`;
const connector = `drift_${id}`;
const controlTopic = `control-${id}`;
const alarmTopic = `drift-alarms-${id}`;
const WINDOW = 2000;
const FEATURES = [
  'tenure_months',
  'monthly_spend',
  'is_enterprise',
  'tickets_90d',
  'seats',
  'days_since_login',
  'plan_basic',
  'plan_pro',
];

let port = 0;
let file = '';
let env: Record<string, string> = {};
let worker: RunningCli | undefined;

before(async () => {
  port = await freePort();
  file = churnPipelineCopy(`drift-${id}`, {
    warehouse: false,
    edit: (doc) => {
      doc.setIn(['spec', 'monitoring', 'window'], { events: WINDOW, max_seconds: 600, min_events: 500 });
      doc.setIn(['spec', 'monitoring', 'drift'], { alarm_topic: alarmTopic });
    },
  });
  env = {
    CHURN_TOPIC: topic,
    CHURN_GROUP: `drift-${id}`,
    CHURN_SCORES_TABLE: `ml.churn_drift_${id}`,
    CHURN_OUTPUT_TOPIC: `drift-scores-${id}`,
    CHURN_DLQ: `drift-${id}.dlq`,
    CHURN_ENCODING: 'json',
    STREAMSCORE_CONTROL_TOPIC: controlTopic,
    METRICS_PORT: String(port),
  };
  await ensureAliases({ churn: { champion: '1' } }, controlTopic);
  await startChurnSource({
    kafka: testKafka(`drift-${id}`),
    table: source,
    topic,
    connector,
    topicPrefix: prefix,
    customers: 0,
  });
  worker = startCli(['run', '--no-backfill', file], env);
});

after(async () => {
  await worker?.stop();
  await dropDebezium(connector);
  await removeChurnObjects({ ...env, CHURN_SOURCE_TABLE: source });
  await deleteTopics([controlTopic, alarmTopic]);
  rmSync(dirname(file), { recursive: true, force: true });
});

async function snapshot(): Promise<DriftSnapshot> {
  const body = (await (await fetch(`http://127.0.0.1:${port}/drift`)).json()) as {
    pipelines: DriftSnapshot[];
  };
  return body.pipelines.find((p) => p.pipeline === 'churn-scoring')!;
}

async function windowsClosed(n: number) {
  return waitFor(
    `${n} drift windows closed`,
    async () => {
      const w = (await snapshot())?.versions.find((v) => v.current)?.windows ?? [];
      return w.length >= n && w;
    },
    120_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n--- worker (tail) ---\n${worker?.output().slice(-3000)}`);
  });
}

const alarmsOf = (w: { stats: { feature: string; alarm: boolean }[] }) =>
  w.stats.filter((s) => s.alarm).map((s) => s.feature);

test('drift: the training population does not alarm; a renamed plan alarms on plan_basic only', async () => {
  const s = new Sampler(20261207);
  await withPg((c) => insertPopulation(c, source, 1, 2 * WINDOW, s));
  const calm = await windowsClosed(2);
  assert.deepEqual(calm.map(alarmsOf), [[], []], 'no alarm on the training population');
  assert.deepEqual(
    calm[0]!.stats.map((x) => x.feature),
    [...FEATURES, 'churn_probability', 'churn_label'],
  );
  for (const st of calm[1]!.stats) assert.equal(st.nullRate, 0, st.feature);

  await withPg((c) => insertPopulation(c, source, 2 * WINDOW + 1, 2 * WINDOW, s, { planBasicZero: true }));
  const all = await windowsClosed(4);
  const shifted = all.slice(2, 4);
  assert.ok(
    shifted.some((w) => alarmsOf(w).includes('plan_basic')),
    `plan_basic alarms within 2 windows: ${JSON.stringify(shifted.map(alarmsOf))}`,
  );
  for (const w of shifted) {
    const others = alarmsOf(w).filter((f) => FEATURES.includes(f) && f !== 'plan_basic');
    assert.deepEqual(others, [], `window ${w.seq}: no other feature alarms`);
  }

  const ratio = (w: (typeof all)[number]) =>
    Math.max(...w.stats.filter((x) => x.statistic !== null).map((x) => x.statistic! / x.threshold!)).toFixed(
      2,
    );
  process.stdout.write(
    `# windows: alarms ${JSON.stringify(all.map(alarmsOf))}; max PSI/threshold ${all.map(ratio).join(' ')}\n`,
  );
  const metrics = await metricsText(port);
  const labels = { pipeline: 'churn-scoring', model: 'churn', version: '1', feature: 'plan_basic' };
  assert.equal(metricValue(metrics, 'streamscore_feature_drift_alarm', labels), 1, 'alarm gauge');
  assert.ok(
    metricValue(metrics, 'streamscore_feature_drift', labels) >
      metricValue(metrics, 'streamscore_feature_drift_threshold', labels),
  );
  assert.equal(
    metricValue(metrics, 'streamscore_feature_drift_alarm', { ...labels, feature: 'tenure_months' }),
    0,
  );
  assert.ok(metricValue(metrics, 'streamscore_drift_windows_total', { pipeline: 'churn-scoring' }) >= 4);
  assert.match(metrics, /streamscore_feature_null_rate\{[^}]*feature="seats"[^}]*\} 0/);
  assert.match(metrics, /streamscore_feature_out_of_range_rate\{[^}]*feature="plan_basic"/);

  const text = await runCli(['drift', file, '--worker', `127.0.0.1:${port}`], env);
  assert.equal(text.code, 1, text.output);
  assert.match(text.output, /^plan_basic +\S+ +\S+ +\d+\.\d{4} +\S+ +ALARM /m);
  assert.match(text.output, /^tenure_months +.* no /m);
  const json = await runCli(['drift', file, '--worker', `127.0.0.1:${port}`, '--format', 'json'], env);
  const views = JSON.parse(json.output) as (DriftSnapshot & { worker: string })[];
  assert.equal(views[0]!.pipeline, 'churn-scoring');

  const events = await readTopic(alarmTopic);
  const parsed = events.map((m) => JSON.parse(m.value!.toString()) as { features: { feature: string }[] });
  assert.ok(
    parsed.some((e) => e.features.some((f) => f.feature === 'plan_basic')),
    `alarm event on ${alarmTopic}`,
  );
});
