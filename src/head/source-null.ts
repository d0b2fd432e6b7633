/**
 * Source nulling (a robustness option): the linear directions of the feature space that tell the
 * image sources apart are learnt on the training images and the head is kept orthogonal to them,
 * so that it cannot read them. Iterative null-space projection (Ravfogel et al. 2020, INLP): fit a
 * linear source classifier, remove its direction from the features, fit again on what is left,
 * a fixed number of times. Sources are told apart *within each class* (COVID sources among COVID
 * images, non-COVID sources among non-COVID images): on a dataset whose classes come from
 * different sources, a source classifier across classes would find the class itself.
 *
 * The head's weight rows act on the feature channels (a pooled vector, or every position of
 * SqueezeNet's map), so a head whose rows are orthogonal to the directions gives the same output
 * on the raw features as on the projected ones: the constraint lives in the weights, prediction
 * needs nothing more, and sparse feature maps stay sparse.
 */
import { UsageError } from '../errors.js';

/** Settings of the direction search; the defaults are fixed, not tuned. */
export interface SourceNullOptions {
  /** Rounds of fit-and-remove (each round fits one classifier per eligible class-and-source cell). */
  iterations: number;
  /** A source takes part within a class only with at least this many images there (and as many others). */
  minCount: number;
  /** L2 penalty of the logistic source classifiers (features scaled to unit RMS). */
  l2: number;
  /** Gradient steps per classifier. */
  steps: number;
}

export const SOURCE_NULL_DEFAULTS: Readonly<SourceNullOptions> = Object.freeze({ iterations: 10, minCount: 10, l2: 0.01, steps: 200 });

/** One source classifier of the search. */
export interface SourceFit {
  iteration: number;
  /** Class (0 non-COVID, 1 COVID) within which the source was told apart. */
  label: number;
  /** Group id of the source (one against the rest of its class). */
  group: number;
  n: number;
  /** Balanced accuracy of the classifier on the images it was fitted on, before its direction was removed. */
  balancedAccuracy: number;
}

/** Orthonormal directions (count x dim, row-major) the head must not read, and how they were found. */
export interface SourceDirections {
  dim: number;
  count: number;
  directions: Float64Array;
  fits: SourceFit[];
}

/**
 * Learns the source directions from pooled training features (n x dim rows), their class labels
 * and source group ids. Deterministic: the same rows give the same directions.
 */
export function sourceDirections(
  rows: Float32Array, n: number, dim: number, labels: ArrayLike<number>, groups: ArrayLike<number>, opts: Partial<SourceNullOptions> = {},
): SourceDirections {
  const o = { ...SOURCE_NULL_DEFAULTS, ...opts };
  if (!Number.isInteger(o.iterations) || o.iterations < 1) throw new UsageError(`source nulling needs a positive whole number of iterations, got ${o.iterations}`);
  if (rows.length !== n * dim || labels.length !== n || groups.length !== n) throw new UsageError(`source nulling: ${n} rows of ${dim} values need ${n * dim} features, ${n} labels and ${n} groups`);
  const x = centredAndScaled(rows, n, dim);
  const basis: Float64Array[] = [];
  const fits: SourceFit[] = [];
  const proj = new Float64Array(n * dim);
  for (let it = 1; it <= o.iterations; it++) {
    // the features with every direction found so far removed
    proj.set(x);
    for (const u of basis) removeFromRows(proj, n, dim, u);
    let added = 0;
    for (const label of [0, 1]) {
      const idx: number[] = [];
      for (let i = 0; i < n; i++) if (labels[i] === label) idx.push(i);
      const counts = new Map<number, number>();
      for (const i of idx) counts.set(groups[i], (counts.get(groups[i]) ?? 0) + 1);
      const eligible = [...counts].filter(([, c]) => c >= o.minCount && idx.length - c >= o.minCount).map(([g]) => g).sort((a, b) => a - b);
      for (const g of eligible) {
        const y = Uint8Array.from(idx, (i) => (groups[i] === g ? 1 : 0));
        const { w, balancedAccuracy } = logistic(proj, idx, dim, y, o.l2, o.steps);
        fits.push({ iteration: it, label, group: g, n: idx.length, balancedAccuracy });
        if (addToBasis(basis, w)) added++;
      }
    }
    if (added === 0) break;
  }
  const directions = new Float64Array(basis.length * dim);
  basis.forEach((u, k) => directions.set(u, k * dim));
  return { dim, count: basis.length, directions, fits };
}

/** Removes the directions from each row of a row-major weight matrix (in place): w <- w - sum (w.u) u. */
export function removeDirections(weight: Float64Array, d: Pick<SourceDirections, 'dim' | 'count' | 'directions'>): void {
  const { dim, count, directions } = d;
  if (weight.length % dim !== 0) throw new UsageError(`source nulling: weights of length ${weight.length} are not rows of ${dim} channels`);
  for (let r = 0; r < weight.length; r += dim) {
    for (let k = 0; k < count; k++) {
      let dot = 0;
      for (let c = 0; c < dim; c++) dot += weight[r + c] * directions[k * dim + c];
      for (let c = 0; c < dim; c++) weight[r + c] -= dot * directions[k * dim + c];
    }
  }
}

/** Rows centred per column and scaled to unit RMS overall, as float64. */
function centredAndScaled(rows: Float32Array, n: number, dim: number): Float64Array {
  const x = Float64Array.from(rows);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let c = 0; c < dim; c++) mean[c] += x[i * dim + c];
  for (let c = 0; c < dim; c++) mean[c] /= Math.max(1, n);
  let ss = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < dim; c++) {
      const v = (x[i * dim + c] -= mean[c]);
      ss += v * v;
    }
  }
  const scale = ss > 0 ? 1 / Math.sqrt(ss / (n * dim)) : 1;
  for (let i = 0; i < x.length; i++) x[i] *= scale;
  return x;
}

function removeFromRows(x: Float64Array, n: number, dim: number, u: Float64Array): void {
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    let dot = 0;
    for (let c = 0; c < dim; c++) dot += x[o + c] * u[c];
    for (let c = 0; c < dim; c++) x[o + c] -= dot * u[c];
  }
}

/**
 * Gram-Schmidt: adds w's part orthogonal to the basis, normalised, when that part is a real new
 * direction (at least 10% of w's length; one-against-rest fits of a class with two sources find
 * the same direction twice). Returns whether it was added.
 */
function addToBasis(basis: Float64Array[], w: Float64Array): boolean {
  const norm0 = Math.hypot(...w);
  if (!(norm0 > 0)) return false;
  const r = Float64Array.from(w);
  for (const u of basis) {
    let dot = 0;
    for (let c = 0; c < r.length; c++) dot += r[c] * u[c];
    for (let c = 0; c < r.length; c++) r[c] -= dot * u[c];
  }
  const norm = Math.hypot(...r);
  if (norm < 0.1 * norm0) return false;
  for (let c = 0; c < r.length; c++) r[c] /= norm;
  basis.push(r);
  return true;
}

/**
 * Class-balanced L2-regularised logistic regression of y on the rows `idx` of x, by full-batch
 * gradient descent from zero with step 1/L (L bounds the loss's curvature: the largest eigenvalue
 * of the weighted covariance over 4, by power iteration, plus the penalty). Returns the weights
 * (the intercept dropped) and the balanced accuracy on the same rows.
 */
function logistic(x: Float64Array, idx: number[], dim: number, y: Uint8Array, l2: number, steps: number): { w: Float64Array; balancedAccuracy: number } {
  const m = idx.length;
  let pos = 0;
  for (const v of y) pos += v;
  // each class weighs half of the loss
  const sw = Float64Array.from(y, (v) => (v ? 0.5 / pos : 0.5 / (m - pos)));
  const lipschitz = largestEigen(x, idx, dim, sw) / 4 + l2;
  const lr = 1 / lipschitz;
  const w = new Float64Array(dim);
  let b = 0;
  const g = new Float64Array(dim);
  for (let s = 0; s < steps; s++) {
    g.fill(0);
    let gb = 0;
    for (let k = 0; k < m; k++) {
      const o = idx[k] * dim;
      let t = b;
      for (let c = 0; c < dim; c++) t += w[c] * x[o + c];
      const r = sw[k] * (1 / (1 + Math.exp(-t)) - y[k]);
      gb += r;
      for (let c = 0; c < dim; c++) g[c] += r * x[o + c];
    }
    for (let c = 0; c < dim; c++) w[c] -= lr * (g[c] + l2 * w[c]);
    b -= lr * gb;
  }
  let tp = 0, tn = 0;
  for (let k = 0; k < m; k++) {
    const o = idx[k] * dim;
    let t = b;
    for (let c = 0; c < dim; c++) t += w[c] * x[o + c];
    if (y[k] && t > 0) tp++;
    if (!y[k] && t <= 0) tn++;
  }
  return { w, balancedAccuracy: (tp / pos + tn / (m - pos)) / 2 };
}

/** Largest eigenvalue of sum_k sw[k] x_k x_k^T (x_k the rows idx of x), by 30 power iterations. */
function largestEigen(x: Float64Array, idx: number[], dim: number, sw: Float64Array): number {
  let v = new Float64Array(dim).fill(1 / Math.sqrt(dim));
  let lambda = 0;
  for (let it = 0; it < 30; it++) {
    const next = new Float64Array(dim);
    for (let k = 0; k < idx.length; k++) {
      const o = idx[k] * dim;
      let dot = 0;
      for (let c = 0; c < dim; c++) dot += x[o + c] * v[c];
      dot *= sw[k];
      for (let c = 0; c < dim; c++) next[c] += dot * x[o + c];
    }
    lambda = Math.hypot(...next);
    if (!(lambda > 0)) return 1;
    for (let c = 0; c < dim; c++) next[c] /= lambda;
    v = next;
  }
  return lambda;
}
