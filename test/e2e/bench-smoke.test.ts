import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

// Keeps the benchmark harness working: a tiny run (no peers) must write the JSON with every stable
// key. It measures nothing that is asserted: benchmarks never assert timings.
const STABLE_KEYS = [
  'e2e_events_per_s',
  'consume_only_events_per_s',
  'kcat_events_per_s',
  'ratio_e2e_to_consume_only',
  'rss_mb_peak',
  'cpu_us_per_event',
];

/** What is wrong with a tiny run's JSON, if anything. */
function problems(json: Record<string, unknown>): string[] {
  const found: string[] = [];
  for (const key of STABLE_KEYS) {
    const v = json[key];
    if (typeof v !== 'number' || !(v > 0)) found.push(`${key}: ${JSON.stringify(v)}`);
  }
  if (typeof (json['latency_ms'] as { p99?: unknown } | undefined)?.p99 !== 'number')
    found.push(`latency_ms.p99: ${JSON.stringify(json['latency_ms'])}`);
  if (typeof (json['machine'] as { cores?: unknown } | undefined)?.cores !== 'number')
    found.push('machine.cores');
  const peers = (json['peers'] ?? {}) as object;
  if (!('quixstreams' in peers && 'kafka_connect_jdbc' in peers))
    found.push('peers.quixstreams/kafka_connect_jdbc');
  return found;
}

test('make bench harness: a tiny run writes every stable JSON key', (t) => {
  const out = join(mkdtempSync(join(tmpdir(), 'bench-')), 'tiny.json');
  const tiny = (): string[] => {
    rmSync(out, { force: true });
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'test/bench/main.ts', '--tiny', '--no-peers', '--out', out],
      // A tiny run takes about 2 minutes; its stages are bounded themselves (a stalled consumer
      // fails its stage within 120 s), so this only catches a harness that hangs outright.
      { encoding: 'utf8', timeout: 420000 },
    );
    if (r.status !== 0) return [`exit ${r.status ?? r.signal}: ${`${r.stdout}\n${r.stderr}`.slice(-3000)}`];
    const found = problems(JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>);
    return found.length === 0 ? [] : [...found, r.stderr.slice(-3000)];
  };
  let found = tiny();
  if (found.length > 0) {
    // One more try (a stage can fail on a loaded machine: a consumer group that never settles),
    // after removing what the failed run left, which would fail the suite's leftovers check too.
    // A broken harness fails both runs.
    t.diagnostic(`first tiny run: ${found.join('\n')}`);
    spawnSync(process.execPath, ['--import', 'tsx', 'test/bench/main.ts', '--cleanup'], {
      encoding: 'utf8',
      timeout: 120000,
    });
    found = tiny();
  }
  assert.deepEqual(found, [], 'every stable key is a positive number');
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
