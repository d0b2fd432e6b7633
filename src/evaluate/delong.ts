/**
 * Confidence intervals for the AUC.
 *
 * - `delongAuc`: DeLong et al. (1988) variance by the fast midrank algorithm of Sun & Xu (2014),
 *   normal-approximation interval `auc ± z·se`, clipped to [0, 1]. Images are treated as independent.
 * - `bootstrapAucCi`: percentile bootstrap that resamples clusters (patients), not images, so
 *   several images of one patient move together; seeded, so it is reproducible.
 */
import { UsageError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { twoSidedZ } from '../util/normal.js';
import { checkPredictions, indicesByDescendingProb, type Labels, type Probs } from './validate.js';

/** AUC with its DeLong variance and confidence interval. */
export interface DelongResult {
  auc: number;
  variance: number;
  se: number;
  /** Interval bounds, clipped to [0, 1]. */
  lower: number;
  upper: number;
  level: number;
}

/** Midranks (1-based; tied values share the mean of their ranks) of `v`, by the Sun & Xu scan. */
export function midranks(v: Float64Array): Float64Array {
  const n = v.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => v[a] - v[b]);
  const out = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j < n && v[order[j]] === v[order[i]]) j++;
    const rank = 0.5 * (i + j - 1) + 1; // mean of 1-based ranks i+1..j
    for (let k = i; k < j; k++) out[order[k]] = rank;
    i = j;
  }
  return out;
}

function sampleVariance(x: Float64Array): number {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i];
  mean /= x.length;
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += (x[i] - mean) * (x[i] - mean);
  return ss / (x.length - 1);
}

/**
 * AUC, DeLong variance and `level` (default 0.95) confidence interval. Needs at least two
 * positives and two negatives (the variance uses sample variances of the structural components).
 */
export function delongAuc(probs: Probs, labels: Labels, level = 0.95): DelongResult {
  checkPredictions(probs, labels, 'DeLong AUC');
  let m = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) m++;
  const n = labels.length - m;
  if (m < 2 || n < 2) {
    throw new UsageError(`DeLong AUC: needs at least 2 positives and 2 negatives, got ${m} and ${n}`);
  }
  const x = new Float64Array(m); // positive scores
  const y = new Float64Array(n); // negative scores
  const z = new Float64Array(m + n); // positives first, then negatives
  for (let i = 0, a = 0, b = 0; i < labels.length; i++) {
    if (labels[i] === 1) x[a++] = probs[i];
    else y[b++] = probs[i];
  }
  z.set(x, 0);
  z.set(y, m);
  const tx = midranks(x);
  const ty = midranks(y);
  const tz = midranks(z);
  let sumPos = 0;
  for (let i = 0; i < m; i++) sumPos += tz[i];
  const auc = (sumPos - (m * (m + 1)) / 2) / (m * n);
  // structural components: V10 per positive, V01 per negative
  const v10 = new Float64Array(m);
  const v01 = new Float64Array(n);
  for (let i = 0; i < m; i++) v10[i] = (tz[i] - tx[i]) / n;
  for (let j = 0; j < n; j++) v01[j] = 1 - (tz[m + j] - ty[j]) / m;
  const variance = sampleVariance(v10) / m + sampleVariance(v01) / n;
  const se = Math.sqrt(variance);
  const zc = twoSidedZ(level);
  return {
    auc,
    variance,
    se,
    lower: Math.max(0, auc - zc * se),
    upper: Math.min(1, auc + zc * se),
    level,
  };
}

/** Result of the patient-clustered bootstrap. */
export interface BootstrapAucResult {
  /** AUC of the full, unresampled data. */
  auc: number;
  lower: number;
  upper: number;
  level: number;
  /** Replicates requested. */
  reps: number;
  /** Replicates that had both classes and so entered the percentiles. */
  usedReps: number;
  /** Number of distinct clusters (patients) resampled. */
  clusters: number;
  seed: number;
}

/** Options of `bootstrapAucCi`. */
export interface BootstrapOptions {
  /** Bootstrap replicates (e.g. 2000). */
  reps: number;
  /** Seed of the `Rng` stream. */
  seed: number;
  /** Confidence level, default 0.95. */
  level?: number;
}

/** Percentile with linear interpolation between order statistics (numpy's default). */
export function percentile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Percentile bootstrap CI of the AUC resampling whole clusters (patients) with replacement:
 * each replicate draws as many clusters as there are, and every image of a drawn cluster enters
 * once per draw. Replicates lacking a class are skipped (counted in `usedReps`).
 */
export function bootstrapAucCi(
  probs: Probs,
  labels: Labels,
  clusters: ArrayLike<string | number>,
  opts: BootstrapOptions,
): BootstrapAucResult {
  checkPredictions(probs, labels, 'bootstrap AUC');
  const N = probs.length;
  if (clusters.length !== N) {
    throw new UsageError(`bootstrap AUC: ${clusters.length} patient ids for ${N} predictions; give one per prediction`);
  }
  if (!(Number.isInteger(opts.reps) && opts.reps > 0)) {
    throw new UsageError(`bootstrap AUC: reps must be a positive integer, got ${opts.reps}`);
  }
  const level = opts.level ?? 0.95;
  // cluster membership as compressed rows
  const ids = new Map<string | number, number>();
  const clusterOf = new Uint32Array(N);
  for (let i = 0; i < N; i++) {
    let c = ids.get(clusters[i]);
    if (c === undefined) ids.set(clusters[i], (c = ids.size));
    clusterOf[i] = c;
  }
  const C = ids.size;
  const start = new Uint32Array(C + 1);
  for (let i = 0; i < N; i++) start[clusterOf[i] + 1]++;
  for (let c = 0; c < C; c++) start[c + 1] += start[c];
  const members = new Uint32Array(N);
  const fill = start.slice(0, C);
  for (let i = 0; i < N; i++) members[fill[clusterOf[i]]++] = i;

  // sort once; each replicate is a weighted Mann-Whitney over the same tie groups
  const order = indicesByDescendingProb(probs);
  const groupEnd: number[] = [];
  for (let r = 0; r < N; r++) if (r === N - 1 || probs[order[r + 1]] !== probs[order[r]]) groupEnd.push(r + 1);
  const weight = new Float64Array(N);
  const weightedAuc = (): number => {
    let posTotal = 0;
    let negTotal = 0;
    for (let i = 0; i < N; i++) {
      if (labels[i] === 1) posTotal += weight[i];
      else negTotal += weight[i];
    }
    if (posTotal === 0 || negTotal === 0) return NaN;
    let negAbove = 0;
    let wins = 0;
    let r = 0;
    for (const end of groupEnd) {
      let gp = 0;
      let gn = 0;
      for (; r < end; r++) {
        const i = order[r];
        if (labels[i] === 1) gp += weight[i];
        else gn += weight[i];
      }
      wins += gp * (negTotal - negAbove - gn) + 0.5 * gp * gn;
      negAbove += gn;
    }
    return wins / (posTotal * negTotal);
  };

  weight.fill(1);
  const auc = weightedAuc();
  const rng = new Rng(opts.seed);
  const values = new Float64Array(opts.reps);
  let used = 0;
  for (let b = 0; b < opts.reps; b++) {
    weight.fill(0);
    for (let d = 0; d < C; d++) {
      const c = rng.int(C);
      for (let k = start[c]; k < start[c + 1]; k++) weight[members[k]] += 1;
    }
    const a = weightedAuc();
    if (!Number.isNaN(a)) values[used++] = a;
  }
  if (used === 0 || Number.isNaN(auc)) {
    throw new UsageError('bootstrap AUC: no replicate had both classes; the data needs positives and negatives');
  }
  const sorted = values.subarray(0, used).sort();
  const alpha = 1 - level;
  return {
    auc,
    lower: percentile(sorted, alpha / 2),
    upper: percentile(sorted, 1 - alpha / 2),
    level,
    reps: opts.reps,
    usedReps: used,
    clusters: C,
    seed: opts.seed,
  };
}
