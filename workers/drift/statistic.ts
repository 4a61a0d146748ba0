/**
 * The drift statistic and its threshold.
 *
 * PSI (population stability index) of a window against the reference, over the reference's bins:
 *   PSI = Σ_i (p_i − q_i) · ln(p_i / q_i)
 * with p the window's and q the reference's bin shares, each count smoothed by +0.5 so an empty bin
 * stays finite. PSI is the symmetric (Jeffreys) divergence; to second order it equals
 * Σ (p_i − q_i)² / π_i, so when window (n rows) and reference (m rows) come from one distribution,
 *   PSI / (1/n + 1/m)  ~  χ²(B − 1)
 * (the two-sample χ² statistic). A window's p-value is that χ² tail; the alarm level is a χ²
 * quantile scaled back by (1/n + 1/m). The χ² functions are the regularized incomplete gamma
 * function (series below a + 1, continued fraction above), written here: a few lines, no dependency.
 */

/** PSI of window counts against reference counts over `bins` bins (+ `extra` bins the reference has none of). */
export function psi(
  window: ArrayLike<number>,
  windowOffset: number,
  n: number,
  reference: readonly number[],
  m: number,
  extraBins: number,
): number {
  const bins = reference.length;
  const total = bins + extraBins;
  const nn = n + 0.5 * total;
  const mm = m + 0.5 * total;
  let s = 0;
  for (let i = 0; i < total; i++) {
    const p = (window[windowOffset + i]! + 0.5) / nn;
    const q = ((i < bins ? reference[i]! : 0) + 0.5) / mm;
    s += (p - q) * Math.log(p / q);
  }
  return s;
}

/** Scale of PSI under no drift: PSI ≈ (1/n + 1/m) · χ²(B − 1). */
export function psiScale(n: number, m: number): number {
  return 1 / n + 1 / m;
}

/** P(χ²(df) > x). */
export function chiSquareSf(x: number, df: number): number {
  if (!(x > 0)) return 1;
  return gammaQ(df / 2, x / 2);
}

/** The x with P(χ²(df) > x) = tail (0 < tail < 1). */
export function chiSquareIsf(tail: number, df: number): number {
  if (!(tail > 0 && tail < 1)) throw new RangeError(`tail probability must be in (0, 1), got ${tail}`);
  let lo = 0;
  let hi = Math.max(1, df);
  while (chiSquareSf(hi, df) > tail) hi *= 2;
  // Bisection on a monotone function: 100 halvings reach double precision on any bracket.
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (chiSquareSf(mid, df) > tail) lo = mid;
    else hi = mid;
    if (hi - lo <= 1e-12 * hi) break;
  }
  return (lo + hi) / 2;
}

/** Upper regularized incomplete gamma Q(a, x) = Γ(a, x) / Γ(a). */
function gammaQ(a: number, x: number): number {
  if (x < a + 1) return 1 - gammaPSeries(a, x);
  return gammaQFraction(a, x);
}

function gammaPSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let k = 1; k < 1000; k++) {
    term *= x / (a + k);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
}

/** Q(a, x) by Lentz's continued fraction (x ≥ a + 1). */
function gammaQFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** ln Γ(a) for a > 0 (Lanczos, g = 7, 9 terms). */
function logGamma(a: number): number {
  if (a < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * a)) - logGamma(1 - a);
  const g = 7;
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = a - 1;
  let s = c[0]!;
  for (let i = 1; i < g + 2; i++) s += c[i]! / (z + i);
  const t = z + g + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/**
 * Benjamini–Hochberg at false-discovery rate q over the given p-values: the largest k with
 * p_(k) ≤ k·q/K; every p ≤ k·q/K is a discovery. Returns k (0: none) and, for each p-value, the
 * level it must be at or below to be a discovery with the others as they are: k·q/K for a
 * discovery, (k+1)·q/K otherwise.
 */
export function benjaminiHochberg(pValues: readonly number[], q: number): { k: number; levels: number[] } {
  const K = pValues.length;
  const sorted = [...pValues].sort((a, b) => a - b);
  let k = 0;
  for (let i = K; i >= 1; i--) {
    if (sorted[i - 1]! <= (i * q) / K) {
      k = i;
      break;
    }
  }
  const cut = (k * q) / K;
  const levels = pValues.map((p) => (k > 0 && p <= cut ? cut : (Math.min(k + 1, K) * q) / K));
  return { k, levels };
}
