import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  computeShadowReport,
  formatShadowReport,
  type ShadowPairRow,
} from '../../../workers/shadow/report.js';

const at = (m: number) => new Date(Date.UTC(2026, 2, 10, 12, m));

function row(c: number | null, s: number | null, over: Partial<ShadowPairRow> = {}): ShadowPairRow {
  return {
    championScore: c,
    shadowScore: s,
    championLabel: c === null ? null : String(Number(c >= 0.5)),
    shadowLabel: s === null ? null : String(Number(s >= 0.5)),
    championMs: 2,
    shadowMs: 3,
    championVersion: '1',
    shadowVersion: '2',
    scoredAt: at(0),
    ...over,
  };
}

const compare = { score: 'p', label: 'l', threshold: 0.5 };
const limits = { max_flip_rate: 0.2, min_label_agreement: 0.8, max_abs_delta_p95: 0.5, min_samples: 4 };

describe('computeShadowReport', () => {
  const rows = [
    row(0.1, 0.2),
    row(0.4, 0.6), // flip
    row(0.5, 0.49), // flip: 0.5 is at the threshold
    row(0.9, 0.9),
    row(0.7, 0.8, { scoredAt: at(5), championMs: 4, shadowMs: 9 }),
    row(Number.NaN, 0.3, { championLabel: '0', scoredAt: at(5), championMs: 4, shadowMs: 9 }), // not compared
  ];

  it('counts flips at the threshold and label agreement, with Wilson intervals', () => {
    const r = computeShadowReport('ml.s', rows, { compare, limits });
    assert.equal(r.n, 6);
    assert.deepEqual([r.flipRate.k, r.flipRate.n], [2, 5]);
    assert.equal(r.flipRate.rate, 0.4);
    assert.ok(r.flipRate.low < 0.4 && r.flipRate.high > 0.4);
    assert.deepEqual([r.labelAgreement?.k, r.labelAgreement?.n], [4, 6]);
    assert.equal(r.verdict, 'fail');
    assert.deepEqual(r.reasons, ['flip rate 40 % > 20 %', 'label agreement 66.67 % < 80 %']);
  });

  it('gives |Δ| percentiles, a histogram of Δ over the compared pairs, ms per batch and versions', () => {
    const r = computeShadowReport('ml.s', rows, { compare, limits });
    // |Δ| sorted: 0, 0.01, 0.1, 0.1, 0.2 (float arithmetic aside)
    assert.ok(Math.abs(r.absDelta.p50! - 0.1) < 1e-9);
    assert.ok(Math.abs(r.absDelta.max! - 0.2) < 1e-9);
    assert.equal(r.histogram.length, 10);
    assert.equal(
      r.histogram.reduce((s, b) => s + b.count, 0),
      5,
    );
    assert.ok(Math.abs(r.histogram[0]!.from - -0.01) < 1e-9);
    assert.ok(Math.abs(r.histogram[9]!.to - 0.2) < 1e-9);
    // Two batches (scored_at, versions, ms): champion 2 and 4 ms.
    assert.deepEqual(r.championMs, { p50: 3, p95: 3.9 });
    assert.deepEqual(r.versions, [
      { champion: '1', shadow: '2', n: 6, first: at(0).toISOString(), last: at(5).toISOString() },
    ]);
  });

  it('filters by --since and is insufficient below min_samples', () => {
    const r = computeShadowReport('ml.s', rows, { compare, limits, since: at(1) });
    assert.equal(r.n, 2);
    assert.equal(r.verdict, 'insufficient');
    assert.equal(r.since, at(1).toISOString());
  });

  it('passes within the limits, and notes a window that mixes version pairs', () => {
    const ok = Array.from({ length: 10 }, (_, i) =>
      row(0.1 * i, 0.1 * i + 0.01, { shadowVersion: i < 5 ? '2' : '3' }),
    );
    const r = computeShadowReport('ml.s', ok, { compare: { ...compare, threshold: 0.95 }, limits });
    assert.equal(r.verdict, 'pass');
    assert.equal(r.versions.length, 2);
    assert.match(r.notes[0]!, /2 version pairs/);
  });

  it('handles an empty window', () => {
    const r = computeShadowReport('ml.s', [], { compare, limits });
    assert.equal(r.verdict, 'insufficient');
    assert.deepEqual(r.absDelta, { p50: null, p95: null, max: null });
    assert.deepEqual(r.histogram, []);
    assert.match(formatShadowReport(r), /pairs {12}0 \(0 with both scores finite\)/);
  });
});

describe('formatShadowReport', () => {
  it('prints rates with intervals, |Δ|, a text histogram and the verdict with its reasons', () => {
    const rows = Array.from({ length: 40 }, (_, i) =>
      row((i % 10) / 10, (i % 10) / 10 + (i % 4 === 0 ? 0.12 : 0.01)),
    );
    const text = formatShadowReport(computeShadowReport('ml.churn__shadow', rows, { compare, limits }));
    const lines = text.split('\n');
    assert.equal(lines[0], 'table            ml.churn__shadow');
    assert.ok(lines.includes('window           every row'));
    assert.ok(lines.some((l) => /^versions {9}champion 1 vs shadow 2: 40 pairs, /.test(l)));
    assert.ok(
      lines.some((l) => /^flips at 0.5 {5}5 % {2}\(95 % CI 1.38 % – 16.5 %; 2 of 40\)$/.test(l)),
      text,
    );
    assert.ok(
      lines.some((l) => /^label agreement {2}95 % {2}\(95 % CI 83.5 % – 98.62 %; 38 of 40\)$/.test(l)),
    );
    assert.ok(
      lines.some((l) => /^\|Δscore\| {9}p50 0.01 {2}p95 0.12 {2}max 0.12$/.test(l)),
      text,
    );
    assert.ok(lines.includes('Δ = shadow − champion'));
    const bars = lines.filter((l) => l.startsWith('  [')).length;
    assert.equal(bars, 10);
    assert.ok(
      lines.includes('limits           flip rate ≤ 20 %, label agreement ≥ 80 %, |Δscore| p95 ≤ 0.5, n ≥ 4'),
    );
    assert.ok(lines.includes('verdict: PASS'));
  });
});
