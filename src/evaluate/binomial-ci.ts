/**
 * Confidence intervals for a binomial proportion k/n (sensitivity, specificity, ...):
 * Wilson score interval and Clopper-Pearson exact interval, matching statsmodels'
 * `proportion_confint(k, n, alpha, method='wilson' | 'beta')`.
 */
import { UsageError } from '../errors.js';
import { twoSidedZ } from '../util/normal.js';

/** A closed interval [lower, upper]. */
export type Interval = [number, number];

function checkCounts(k: number, n: number, what: string): void {
  if (!(Number.isInteger(k) && Number.isInteger(n) && n > 0 && k >= 0 && k <= n)) {
    throw new UsageError(`${what}: needs integers 0 <= k <= n and n > 0, got k=${k}, n=${n}`);
  }
}

/** Wilson score interval for k successes of n at `level` (default 0.95), within [0, 1]. */
export function wilsonInterval(k: number, n: number, level = 0.95): Interval {
  checkCounts(k, n, 'Wilson interval');
  const z = twoSidedZ(level);
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  // exact 0 at k = 0 and 1 at k = n (center and half-width are equal there; rounding would leave ~1e-17)
  return [k === 0 ? 0 : Math.max(0, center - half), k === n ? 1 : Math.min(1, center + half)];
}

/** Clopper-Pearson exact interval for k successes of n at `level` (default 0.95): beta quantiles. */
export function clopperPearsonInterval(k: number, n: number, level = 0.95): Interval {
  checkCounts(k, n, 'Clopper-Pearson interval');
  if (!(level > 0 && level < 1)) throw new UsageError(`Clopper-Pearson interval: level must be in (0, 1), got ${level}`);
  const a = (1 - level) / 2;
  const lower = k === 0 ? 0 : betaQuantile(a, k, n - k + 1);
  const upper = k === n ? 1 : betaQuantile(1 - a, k + 1, n - k);
  return [lower, upper];
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** Natural log of the gamma function for x > 0 (Lanczos, g = 7; about 1e-15 relative). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const xm = x - 1;
  let s = LANCZOS[0];
  for (let i = 1; i < 9; i++) s += LANCZOS[i] / (xm + i);
  const t = xm + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (xm + 0.5) * Math.log(t) - t + Math.log(s);
}

/** Continued fraction of the incomplete beta (modified Lentz), valid for x < (a+1)/(a+b+2). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 100000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) return h;
  }
  return h; // converged to rounding for any a, b this module meets
}

/** Regularized incomplete beta I_x(a, b) = P(X <= x) for X ~ Beta(a, b); a, b > 0. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const logFront = a * Math.log(x) + b * Math.log1p(-x) - (logGamma(a) + logGamma(b) - logGamma(a + b));
  // use the continued fraction on the side where it converges fast
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(logFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

/**
 * Quantile of Beta(a, b): the x with I_x(a, b) = p, by bisection on [0, 1] until the bracket
 * cannot shrink further in double precision (the CDF is monotone, so this always converges).
 */
export function betaQuantile(p: number, a: number, b: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let lo = 0;
  let hi = 1;
  for (let it = 0; it < 1100; it++) {
    const mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (regularizedIncompleteBeta(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}
