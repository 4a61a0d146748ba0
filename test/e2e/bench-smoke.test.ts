import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

// Keeps the benchmark harness working: a tiny run (no peers) must write the JSON with every stable
// key. It measures nothing that is asserted: benchmarks never assert timings.
test('make bench harness: a tiny run writes every stable JSON key', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'bench-')), 'tiny.json');
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'test/bench/main.ts', '--tiny', '--no-peers', '--out', out],
    {
      encoding: 'utf8',
      timeout: 600000,
    },
  );
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`.slice(-4000));
  const json = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
  for (const key of [
    'e2e_events_per_s',
    'consume_only_events_per_s',
    'kcat_events_per_s',
    'ratio_e2e_to_consume_only',
    'rss_mb_peak',
    'cpu_us_per_event',
  ]) {
    assert.equal(
      typeof json[key],
      'number',
      `${key}: ${JSON.stringify(json[key])}\n${r.stderr.slice(-3000)}`,
    );
    assert.ok((json[key] as number) > 0, `${key} is ${json[key]}`);
  }
  assert.equal(typeof (json['latency_ms'] as { p99?: unknown }).p99, 'number');
  const machine = json['machine'] as { cores?: unknown };
  assert.equal(typeof machine.cores, 'number');
  assert.ok('quixstreams' in (json['peers'] as object) && 'kafka_connect_jdbc' in (json['peers'] as object));
});

// The rollout bench's RSS-over-swaps child (test/bench/rollout.ts): a few swaps through the real
// PipelineModels must print its JSON (the figures are not asserted).
test('make bench harness: the rollout RSS child swaps and reports', () => {
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', 'test/bench/rollout.ts', '--swap-rss', '4', 'smoke'],
    { encoding: 'utf8', timeout: 120000 },
  );
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`.slice(-4000));
  const json = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{')) ?? '{}') as {
    swaps?: unknown;
    rss_mb?: Record<string, unknown>;
    growth_pct?: unknown;
  };
  assert.equal(json.swaps, 4);
  assert.equal(typeof json.rss_mb?.['0'], 'number');
  assert.equal(typeof json.rss_mb?.['4'], 'number');
  assert.equal(typeof json.growth_pct, 'number');
});
