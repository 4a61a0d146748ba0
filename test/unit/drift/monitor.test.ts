import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { WindowReport } from '../../../workers/drift/evaluate.js';
import { DriftMonitor } from '../../../workers/drift/monitor.js';
import type { Distributions } from '../../../workers/drift/reference.js';

/** x: numeric with bins ≤1, (1,2], >2 (range 0–3); flag: 0/1; score output: numeric; label: classes a/b. */
const REFERENCE: Distributions = {
  rows: 300,
  outputRows: 300,
  features: {
    x: { kind: 'numeric', edges: [1, 2], counts: [100, 100, 100], min: 0, max: 3 },
    flag: { kind: 'categorical', values: [0, 1], counts: [150, 150] },
  },
  outputs: {
    'probabilities[1]': { kind: 'numeric', edges: [0.5], counts: [150, 150], min: 0, max: 1 },
    label: { kind: 'categorical', values: ['a', 'b'], counts: [150, 150] },
  },
};

function setup(opts: { events?: number; maxSeconds?: number; minEvents?: number } = {}) {
  const reports: WindowReport[] = [];
  const versions: string[] = [];
  let now = 0;
  const m = new DriftMonitor({
    pipeline: 'p',
    featureNames: ['x', 'flag', 'unknown_feature'],
    outputFields: ['score', 'label'],
    outputRefs: { score: 'probabilities[1]', label: 'label' },
    window: { events: opts.events ?? 6, maxSeconds: opts.maxSeconds ?? 60, minEvents: opts.minEvents ?? 2 },
    fdr: 0.01,
    distributions: (info) => (info.version === 'none' ? undefined : REFERENCE),
    onWindow: (r) => reports.push(r),
    onVersion: (info, state, unmonitored) =>
      versions.push(`${info.version} ${state} ${unmonitored.join(',')}`),
    now: () => now,
  });
  return { m, reports, versions, advance: (ms: number) => (now += ms) };
}

/** `n` rows (x, flag, unknown) with outputs (score, label); `canary` marks rows a canary scored. */
function batch(rows: [number, number, number, number, string][], canary: number[] = []) {
  const features = new Float32Array(rows.flatMap((r) => [r[0], r[1], 0]));
  const predictions = rows.map((r, i) => ({
    values: [r[2], r[3] === 1 ? r[4] : 'zzz'],
    ...(canary.includes(i) ? { model: { name: 'm', version: '9' } } : {}),
  }));
  return { features, predictions };
}

const V1 = { name: 'm', version: '1', sha256: 'a' };

describe('drift monitor', () => {
  test('windows close at exactly `events` rows, mid-batch; canary rows are not counted', () => {
    const { m, reports, versions } = setup({ events: 4 });
    const rows: [number, number, number, number, string][] = Array.from({ length: 10 }, (_, i) => [
      i % 3,
      i % 2,
      0.3,
      1,
      'a',
    ]);
    const b = batch(rows, [1, 2]);
    m.observe(b.features, 10, 3, b.predictions, V1);
    assert.deepEqual(versions, ['1 monitored unknown_feature']);
    assert.deepEqual(
      reports.map((r) => r.events),
      [4, 4],
    );
    assert.deepEqual(
      reports[0]!.stats.map((s) => s.feature),
      ['x', 'flag', 'score', 'label'],
    );
    // Rows 0, 3, 4, 5 (1 and 2 are the canary's): x = 0, 0, 1, 2 → bins [3, 1, 0].
    assert.deepEqual(reports[0]!.stats[0]!.window, [3, 1, 0]);
    assert.equal(m.snapshot().versions[0]!.open?.events, 0);
  });

  test('null and out-of-range rates; an unknown category counts in the other bin', () => {
    const { m, reports } = setup({ events: 4 });
    const b = batch([
      [5, 1, 0.2, 1, 'a'],
      [-1, 2, 0.7, 0, 'a'],
      [1, 0, Number.NaN, 1, 'b'],
      [2, 1, 0.9, 1, 'b'],
    ]);
    const nulls = new Uint8Array(12);
    nulls[3] = 1; // row 1, x
    m.observe(b.features, 4, 3, b.predictions, V1, nulls);
    const [x, flag, score, label] = reports[0]!.stats;
    assert.equal(x!.nullRate, 0.25);
    assert.equal(x!.outOfRangeRate, 0.5); // 5 and -1
    assert.deepEqual(flag!.window, [1, 2, 1]); // 2 is no category
    assert.equal(flag!.outOfRangeRate, 0.25);
    assert.equal(score!.nullRate, 0.25); // NaN
    assert.equal(score!.n, 3);
    assert.deepEqual(label!.window, [1, 2, 1]); // 'zzz' once
  });

  test('a new model version starts its own windows; a version without reference is not watched', () => {
    const { m, reports, versions } = setup({ events: 4 });
    const b = batch(
      Array.from({ length: 3 }, () => [1, 1, 0.5, 1, 'a'] as [number, number, number, number, string]),
    );
    m.observe(b.features, 3, 3, b.predictions, V1);
    m.observe(b.features, 3, 3, b.predictions, { name: 'm', version: '2', sha256: 'b' });
    assert.equal(reports.length, 0, 'the 3 rows of version 1 are not carried into version 2');
    m.observe(b.features, 3, 3, b.predictions, { name: 'm', version: '2', sha256: 'b' });
    assert.deepEqual(
      reports.map((r) => [r.version, r.seq, r.events]),
      [['2', 1, 4]],
    );
    m.observe(b.features, 3, 3, b.predictions, { name: 'm', version: 'none' });
    assert.deepEqual(versions.slice(1), [
      '1 retired ',
      '2 monitored unknown_feature',
      '2 retired ',
      'none no-reference ',
    ]);
    const snap = m.snapshot();
    assert.deepEqual(
      snap.versions.map((v) => [v.version, v.current, v.monitored, v.windows.length]),
      [
        ['none', true, false, 0],
        ['2', false, true, 1],
      ],
    );
  });

  test('a window closes on time once it holds min_events rows', () => {
    const { m, reports, advance } = setup({ events: 100, maxSeconds: 10, minEvents: 3 });
    const b = batch([[1, 1, 0.5, 1, 'a']]);
    m.observe(b.features, 1, 3, b.predictions, V1);
    advance(11_000);
    m.tick();
    assert.equal(reports.length, 0, 'below min_events it stays open');
    m.observe(b.features, 1, 3, b.predictions, V1);
    m.observe(b.features, 1, 3, b.predictions, V1);
    assert.deepEqual(
      reports.map((r) => [r.closedBy, r.events]),
      [['time', 3]],
    );
  });

  test('a shifted feature alarms with its threshold below its statistic; the others do not', () => {
    const { m, reports } = setup({ events: 600 });
    const rows: [number, number, number, number, string][] = Array.from({ length: 600 }, (_, i) => [
      (i % 3) + 0.5, // x as in the reference
      1, // flag always 1: shifted
      i % 2 === 0 ? 0.25 : 0.75,
      1,
      i % 2 === 0 ? 'a' : 'b',
    ]);
    const b = batch(rows);
    m.observe(b.features, 600, 3, b.predictions, V1);
    const stats = reports[0]!.stats;
    assert.deepEqual(
      stats.filter((s) => s.alarm).map((s) => s.feature),
      ['flag'],
    );
    const flag = stats[1]!;
    assert.ok(flag.statistic! > flag.threshold!, `${flag.statistic} > ${flag.threshold}`);
    for (const s of stats.filter((x) => !x.alarm)) assert.ok(s.statistic! <= s.threshold!, s.feature);
    // Threshold: (1/n + 1/m) × the χ²(B−1) quantile at the BH level: 2q/K = 0.005 for the
    // non-discoveries (K = 4, one discovery); χ²(2) has tail e^(−x/2), so x = −2 ln 0.005.
    const x = stats[0]!;
    const expected = (1 / 600 + 1 / 300) * -2 * Math.log(0.005);
    assert.ok(Math.abs(x.threshold! - expected) < 1e-9, `${x.threshold} vs ${expected}`);
  });
});

describe('drift monitor failures', () => {
  test('a failure inside the monitor is reported once and never thrown into the batch path', () => {
    const errors: unknown[] = [];
    const m = new DriftMonitor({
      pipeline: 'p',
      featureNames: ['x'],
      outputFields: [],
      window: { events: 2, maxSeconds: 60, minEvents: 1 },
      fdr: 0.01,
      distributions: () => REFERENCE,
      onWindow: () => {
        throw new Error('metrics exporter broke');
      },
      onError: (err) => errors.push(err),
    });
    const features = new Float32Array([1, 2, 3, 4]);
    m.observe(features, 4, 1, [], V1);
    m.observe(features, 4, 1, [], V1);
    assert.deepEqual(
      errors.map((e) => (e as Error).message),
      ['metrics exporter broke'],
    );
  });
});
