import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  benjaminiHochberg,
  chiSquareIsf,
  chiSquareSf,
  psi,
  psiScale,
} from '../../../workers/drift/statistic.js';

const near = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

describe('drift statistic', () => {
  test('χ² tail and quantile match tabulated values', () => {
    near(chiSquareIsf(0.05, 1), 3.841459, 1e-5, 'χ²(1) 95 %');
    near(chiSquareIsf(0.001, 9), 27.877165, 1e-5, 'χ²(9) 99.9 %');
    near(chiSquareIsf(0.01, 4), 13.276704, 1e-5, 'χ²(4) 99 %');
    near(chiSquareIsf(1e-6, 2), 27.631021, 1e-5, 'χ²(2) 1 − 1e-6');
    near(chiSquareSf(18.307038, 10), 0.05, 1e-7, 'P(χ²(10) > 18.307)');
    near(chiSquareSf(0.5, 3), 0.918891, 1e-6, 'P(χ²(3) > 0.5)');
    assert.equal(chiSquareSf(0, 3), 1);
    assert.throws(() => chiSquareIsf(0, 3), /tail probability/);
  });

  test('PSI is 0 for identical shares, grows with the shift, and stays finite with an empty bin', () => {
    const ref = [400, 400, 200];
    near(psi([800, 800, 400], 0, 2000, ref, 1000, 0), 0, 1e-6, 'same shares');
    const small = psi([900, 700, 400], 0, 2000, ref, 1000, 0);
    const large = psi([1200, 400, 400], 0, 2000, ref, 1000, 0);
    assert.ok(small > 0 && large > small, `${small} < ${large}`);
    assert.ok(Number.isFinite(psi([2000, 0, 0], 0, 2000, ref, 1000, 0)));
    // An unknown category (the extra bin) counts against the reference.
    assert.ok(psi([400, 400, 200, 1000], 0, 2000, ref, 1000, 1) > 0.5);
    near(psiScale(10000, 4000), 0.00035, 1e-12, '1/n + 1/m');
  });

  test('Benjamini–Hochberg: discoveries and the level each p-value must reach', () => {
    // K = 5, q = 0.05: levels 0.01 0.02 0.03 0.04 0.05.
    const r = benjaminiHochberg([0.009, 0.5, 0.025, 0.03, 0.9], 0.05);
    assert.equal(r.k, 3);
    assert.deepEqual(
      r.levels.map((l) => Number(l.toFixed(12))),
      [0.03, 0.04, 0.03, 0.03, 0.04],
    );
    const none = benjaminiHochberg([0.02, 0.5, 0.3], 0.03);
    assert.equal(none.k, 0);
    assert.deepEqual(
      none.levels.map((l) => Number(l.toFixed(12))),
      [0.01, 0.01, 0.01],
    );
  });
});
