import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { alertRules } from '../../support/monitoring.js';

// The stack's Prometheus (infra/local/services/prometheus.sh): ready, with infra/prometheus's
// rules loaded, discovering targets in the directory .stack/env names, and kept lean.
const url = process.env['PROMETHEUS_URL'] ?? 'http://127.0.0.1:19090';

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${url}${path}`);
  assert.equal(res.status, 200, path);
  return ((await res.json()) as { data: T }).data;
}

test('prometheus: ready, with every alert rule of infra/prometheus loaded', async () => {
  assert.equal((await fetch(`${url}/-/ready`)).status, 200);
  const { groups } = await api<{ groups: { rules: { name: string; health: string }[] }[] }>('/api/v1/rules');
  const loaded = groups.flatMap((g) => g.rules);
  assert.deepEqual(
    loaded.map((r) => r.name).sort(),
    alertRules()
      .map((r) => r.alert)
      .sort(),
  );
  for (const r of loaded) assert.notEqual(r.health, 'err', r.name);
});

test('prometheus: discovers targets in the directory .stack/env gives the workers; small retention', async () => {
  const env = readFileSync(resolve('.stack/env'), 'utf8');
  const dir = /^export STREAMSCORE_PROM_SD_DIR=(.+)$/m.exec(env)?.[1];
  assert.ok(dir, '.stack/env exports STREAMSCORE_PROM_SD_DIR');
  assert.match(env, /^export PROMETHEUS_URL=http:\/\/127\.0\.0\.1:\d+$/m);
  const { yaml } = await api<{ yaml: string }>('/api/v1/status/config');
  assert.ok(yaml.includes(`${dir}/*.json`), `file_sd_configs reads ${dir}/*.json:\n${yaml}`);
  const flags = await api<Record<string, string>>('/api/v1/status/flags');
  assert.equal(flags['storage.tsdb.retention.time'], '6h');
  assert.match(flags['web.listen-address'] ?? '', /^127\.0\.0\.1:/);
});
