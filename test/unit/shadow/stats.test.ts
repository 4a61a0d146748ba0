import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  binIndex,
  formatPercent,
  histogram,
  histogramBars,
  parseSince,
  percentileCont,
  shadowVerdict,
  wilsonInterval,
} from '../../../workers/shadow/stats.js';

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

describe('wilsonInterval', () => {
  // Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med 17:857,
  // Table I, method 3 (score interval without continuity correction).
  for (const [k, n, low, high] of [
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
    [29, 29, 0.883, 1],
  ] as const) {
    it(`${k}/${n} → [${low}, ${high}] (Newcombe 1998)`, () => {
      const w = wilsonInterval(k, n);
      assert.equal(w.rate, k / n);
      assert.deepEqual([round4(w.low), round4(w.high)], [low, high]);
    });
  }

  it('is exactly 0 at k = 0 and exactly 1 at k = n, and [0, 1] without trials', () => {
    assert.equal(wilsonInterval(0, 1_000_000).low, 0);
    assert.equal(wilsonInterval(1_000_000, 1_000_000).high, 1);
    assert.deepEqual(wilsonInterval(0, 0), { k: 0, n: 0, rate: 0, low: 0, high: 1 });
  });

  it('refuses impossible counts', () => {
    assert.throws(() => wilsonInterval(3, 2), RangeError);
    assert.throws(() => wilsonInterval(-1, 2), RangeError);
    assert.throws(() => wilsonInterval(0.5, 2), RangeError);
  });
});

describe('percentileCont', () => {
  it('interpolates linearly between the closest ranks, like Postgres percentile_cont', () => {
    assert.equal(percentileCont([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(percentileCont([0, 10], 0.95), 9.5);
    assert.equal(percentileCont([7], 0.95), 7);
    assert.equal(percentileCont([1, 2, 3, 4, 5], 1), 5);
    assert.equal(percentileCont([], 0.5), null);
  });
});

describe('histogram', () => {
  it('puts every value in one of ten equal-width bins from min to max, the max in the last', () => {
    const h = histogram([0, 0.05, 0.1, 0.15, 0.5, 0.95, 1, 1]);
    assert.equal(h.length, 10);
    assert.equal(h[0]!.from, 0);
    assert.equal(h[9]!.to, 1);
    assert.deepEqual(
      h.map((b) => b.count),
      [2, 2, 0, 0, 0, 1, 0, 0, 0, 3],
    );
    assert.equal(
      h.reduce((s, b) => s + b.count, 0),
      8,
    );
    for (let i = 1; i < h.length; i++) assert.equal(h[i]!.from, h[i - 1]!.to);
  });

  it('handles negative deltas, a single value, nothing, and non-finite values', () => {
    assert.deepEqual(
      histogram([-0.2, 0.2], 4).map((b) => [round4(b.from), round4(b.to), b.count]),
      [
        [-0.2, -0.1, 1],
        [-0.1, 0, 0],
        [0, 0.1, 0],
        [0.1, 0.2, 1],
      ],
    );
    assert.deepEqual(histogram([0.3, 0.3, 0.3]), [{ from: 0.3, to: 0.3, count: 3 }]);
    assert.deepEqual(histogram([]), []);
    assert.equal(
      histogram([Number.NaN, Infinity, 1, 2]).reduce((s, b) => s + b.count, 0),
      2,
    );
  });

  it('clamps the bin index to the range', () => {
    assert.equal(binIndex(-5, 0, 1), 0);
    assert.equal(binIndex(1, 0, 1), 9);
    assert.equal(binIndex(0.999, 0, 1), 9);
    assert.equal(binIndex(0.5, 0, 1), 5);
    assert.equal(binIndex(3, 3, 3), 0);
  });

  it('draws bars proportional to the counts, with the counts beside them', () => {
    const lines = histogramBars(
      [
        { from: 0, to: 0.5, count: 10 },
        { from: 0.5, to: 1, count: 5 },
      ],
      10,
    );
    assert.deepEqual(lines, [`[0, 0.5)  ${'█'.repeat(10)}  10`, `[0.5, 1]  ${'█'.repeat(5)}       5`]);
  });
});

describe('shadowVerdict', () => {
  const limits = {
    max_flip_rate: 0.02,
    min_label_agreement: 0.95,
    max_abs_delta_p95: 0.05,
    min_samples: 1000,
  };
  const ok = {
    flipRate: wilsonInterval(10, 2000),
    labelAgreement: wilsonInterval(1990, 2000),
    absDeltaP95: 0.01,
  };

  it('passes when every limit holds', () => {
    assert.deepEqual(shadowVerdict(ok, limits), { verdict: 'pass', reasons: [] });
  });

  it('fails naming every limit exceeded', () => {
    const v = shadowVerdict(
      { flipRate: wilsonInterval(62, 2000), labelAgreement: wilsonInterval(1800, 2000), absDeltaP95: 0.061 },
      limits,
    );
    assert.equal(v.verdict, 'fail');
    assert.deepEqual(v.reasons, [
      'flip rate 3.1 % > 2 %',
      'label agreement 90 % < 95 %',
      '|Δscore| p95 0.061 > 0.05',
    ]);
  });

  it('is a limit exactly met: pass (limits are inclusive)', () => {
    assert.equal(shadowVerdict({ ...ok, flipRate: wilsonInterval(40, 2000) }, limits).verdict, 'pass');
    assert.equal(shadowVerdict({ ...ok, flipRate: wilsonInterval(41, 2000) }, limits).verdict, 'fail');
  });

  it('is insufficient below min_samples, even when a limit is already exceeded', () => {
    const v = shadowVerdict({ ...ok, flipRate: wilsonInterval(500, 999) }, limits);
    assert.deepEqual(v, { verdict: 'insufficient', reasons: ['999 compared pairs < 1000 (min_samples)'] });
  });

  it('is insufficient when a label limit has too few labelled pairs or no label to compare', () => {
    assert.equal(
      shadowVerdict({ ...ok, labelAgreement: wilsonInterval(10, 10) }, limits).verdict,
      'insufficient',
    );
    assert.deepEqual(shadowVerdict({ ...ok, labelAgreement: undefined }, limits).reasons, [
      'min_label_agreement is set but compare.label is not',
    ]);
  });

  it('checks only the limits that are set; min_samples defaults to 1000', () => {
    const v = shadowVerdict({ flipRate: wilsonInterval(900, 1000), absDeltaP95: 9 }, {});
    assert.equal(v.verdict, 'pass');
    assert.equal(
      shadowVerdict({ flipRate: wilsonInterval(0, 999), absDeltaP95: 0 }, {}).verdict,
      'insufficient',
    );
  });

  it('formats rates as percent without trailing zeros', () => {
    assert.equal(formatPercent(0.031), '3.1 %');
    assert.equal(formatPercent(0.02), '2 %');
    assert.equal(formatPercent(0.00123), '0.12 %');
    assert.equal(formatPercent(1), '100 %');
  });
});

describe('parseSince', () => {
  const now = new Date('2026-03-10T12:00:00.000Z');
  it('reads durations back from now', () => {
    assert.equal(parseSince('30m', now).toISOString(), '2026-03-10T11:30:00.000Z');
    assert.equal(parseSince('2h', now).toISOString(), '2026-03-10T10:00:00.000Z');
    assert.equal(parseSince('1d', now).toISOString(), '2026-03-09T12:00:00.000Z');
    assert.equal(parseSince('1w', now).toISOString(), '2026-03-03T12:00:00.000Z');
    assert.equal(parseSince('90s', now).toISOString(), '2026-03-10T11:58:30.000Z');
    assert.equal(parseSince('1h30m', now).toISOString(), '2026-03-10T10:30:00.000Z');
    assert.equal(parseSince('1.5h', now).toISOString(), '2026-03-10T10:30:00.000Z');
  });

  it('reads ISO dates (UTC midnight) and date-times with a zone', () => {
    assert.equal(parseSince('2026-01-31', now).toISOString(), '2026-01-31T00:00:00.000Z');
    assert.equal(parseSince('2026-01-31T08:00:00Z', now).toISOString(), '2026-01-31T08:00:00.000Z');
    assert.equal(parseSince('2026-01-31T08:00+01:00', now).toISOString(), '2026-01-31T07:00:00.000Z');
    assert.equal(parseSince('2026-01-31 08:00:00.250Z', now).toISOString(), '2026-01-31T08:00:00.250Z');
  });

  it('refuses a date-time without a zone, impossible dates and anything else', () => {
    assert.throws(() => parseSince('2026-01-31T08:00', now), /needs a zone/);
    assert.throws(() => parseSince('2026-02-31', now), /expected a duration/);
    assert.throws(() => parseSince('2026-13-01', now), /expected a duration/);
    for (const bad of ['', 'yesterday', '2 h', '5', '-1h', 'h', '1y']) {
      assert.throws(() => parseSince(bad, now), /expected a duration/, bad);
    }
  });
});
