import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningCli, startCli } from '../support/cli.js';
import { cleanUpMonitored, type MonitoredPipeline, monitoredPipeline } from '../support/monitoring.js';
import { uniqueId, waitFor } from '../support/stack.js';
import { createTopic, produce, range } from './commit-support.js';

// The local stack's Prometheus (make stack-up: 127.0.0.1:19090, file-based service discovery in
// STREAMSCORE_PROM_SD_DIR) finds a worker that `run` announced, scrapes it (target up), evaluates
// infra/prometheus's rules on it — the drift alarm fires once the worker's drift windows see
// traffic unlike the model's training population — and forgets the worker once it stopped.
const prometheus = process.env['PROMETHEUS_URL'] ?? 'http://127.0.0.1:19090';
const sdDir = process.env['STREAMSCORE_PROM_SD_DIR'];
const p: MonitoredPipeline = monitoredPipeline('mon-prom', uniqueId());
let worker: RunningCli | undefined;

interface ActiveTarget {
  labels: Record<string, string>;
  health: string;
  lastError: string;
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${prometheus}${path}`);
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  return ((await res.json()) as { data: T }).data;
}

const ours = async () =>
  (await api<{ activeTargets: ActiveTarget[] }>('/api/v1/targets?state=active')).activeTargets.filter(
    (t) => t.labels['pipelines'] === p.name,
  );

before(async () => {
  assert.ok(sdDir, 'STREAMSCORE_PROM_SD_DIR is set (make stack-up writes it to .stack/env)');
  await createTopic(p.topic);
  worker = startCli(['run', '--no-backfill', '--port', 'auto', p.file], { STREAMSCORE_PROM_SD_DIR: sdDir });
});

after(async () => {
  await worker?.stop('SIGKILL');
  await cleanUpMonitored(p);
});

test('Prometheus discovers the worker and its target is up', async () => {
  const targets = await waitFor('the worker up among the active targets', async () => {
    if (worker!.child.exitCode !== null) throw new Error(`worker exited:\n${worker!.output()}`);
    const t = await ours();
    return t.length === 1 && t[0]!.health === 'up' ? t : undefined;
  });
  assert.equal(targets[0]!.labels['job'], 'streamscore');
  assert.equal(targets[0]!.labels['role'], 'worker');
});

test('the drift alert fires in Prometheus after traffic unlike the training population', async () => {
  await produce(p.topic, range(1, 60));
  const alert = await waitFor(
    'StreamscoreFeatureDrift firing for the pipeline',
    async () => {
      const { alerts } = await api<{ alerts: { labels: Record<string, string>; state: string }[] }>(
        '/api/v1/alerts',
      );
      return alerts.find(
        (a) =>
          a.labels['alertname'] === 'StreamscoreFeatureDrift' &&
          a.labels['pipeline'] === p.name &&
          a.state === 'firing',
      );
    },
    90_000,
  );
  assert.equal(alert.labels['model'], 'churn');
  assert.equal(alert.labels['version'], '1');
  // The same alarm as the worker's own gauge, as Prometheus stored it.
  const { result } = await api<{ result: { metric: Record<string, string> }[] }>(
    `/api/v1/query?query=${encodeURIComponent(`streamscore_feature_drift_alarm{pipeline="${p.name}"} == 1`)}`,
  );
  assert.ok(result.some((r) => r.metric['feature'] === alert.labels['feature']));
});

test('a stopped worker is no longer a target', async () => {
  assert.equal(await worker!.stop('SIGTERM'), 0, worker!.output().slice(-3000));
  await waitFor('the target gone from the active targets', async () => (await ours()).length === 0, 90_000);
});
