/**
 * The density model behind the learned gate: a Gaussian with a Ledoit-Wolf shrinkage covariance
 * over the backbone's pooled features (square-rooted), scored by Mahalanobis distance. With fewer
 * training images than feature channels (476 vs 512 or 1280 here) the sample covariance is
 * singular; Ledoit-Wolf picks, in closed form, how far to pull it towards a scaled identity.
 * The covariance is stored as its Cholesky factor (packed lower triangle), so a score is one
 * forward substitution: p²/2 multiply-adds, under a millisecond for p = 1280.
 */

/** n rows of `dim` floats, contiguous. */
export interface FeatureRows {
  data: Float32Array;
  n: number;
  dim: number;
}

/** A fitted density model. */
export interface DensityModel {
  /** Floats per input row (the backbone's pooled vector). */
  dim: number;
  /** Input channels used, ascending (null = all); set when `dim` exceeds the size limit. */
  channels: Int32Array | null;
  /** Channels modelled (channels?.length ?? dim). */
  p: number;
  /** Mean of the transformed training features (p). */
  mean: Float32Array;
  /** Cholesky factor L of the shrunk covariance, packed lower triangle by rows (p(p+1)/2). */
  chol: Float32Array;
  /** Ledoit-Wolf shrinkage intensity in [0, 1]. */
  shrinkage: number;
  /** Training rows the model was fitted on. */
  n: number;
}

/**
 * Signed square root: ReLU features are skewed (a few large activations, many near zero); the
 * root makes them closer to Gaussian, which a Mahalanobis distance assumes. Measured: it raised
 * the share of not-cxr images caught at the same validation cut-off (see BENCHMARKS.md).
 */
export function transformFeature(v: number): number {
  return v >= 0 ? Math.sqrt(v) : -Math.sqrt(-v);
}

/** Indices of the `k` channels of largest variance (after the transform), ascending. */
function topVarianceChannels(rows: FeatureRows, k: number): Int32Array {
  const { data, n, dim } = rows;
  const s = new Float64Array(dim);
  const s2 = new Float64Array(dim);
  for (let r = 0; r < n; r++) {
    const o = r * dim;
    for (let j = 0; j < dim; j++) {
      const v = transformFeature(data[o + j]);
      s[j] += v;
      s2[j] += v * v;
    }
  }
  const order = Array.from({ length: dim }, (_, j) => j);
  const variance = (j: number) => s2[j] / n - (s[j] / n) ** 2;
  order.sort((a, b) => variance(b) - variance(a) || a - b);
  return Int32Array.from(order.slice(0, k).sort((a, b) => a - b));
}

/** Copies row `r` of `rows`, transformed and restricted to `channels`, into `out`. */
function gather(rows: { data: Float32Array; dim: number }, r: number, channels: Int32Array | null, out: Float64Array): void {
  const o = r * rows.dim;
  if (channels) for (let j = 0; j < channels.length; j++) out[j] = transformFeature(rows.data[o + channels[j]]);
  else for (let j = 0; j < out.length; j++) out[j] = transformFeature(rows.data[o + j]);
}

/**
 * Fits the model. `maxDims` bounds the covariance's size (and gate.json's: p(p+1)/2 floats); with
 * more channels than that, the highest-variance channels are kept (a marginal of the Gaussian).
 * @throws Error when there are fewer than 2 rows.
 */
export function fitDensity(rows: FeatureRows, opts: { maxDims?: number } = {}): DensityModel {
  const { n, dim } = rows;
  if (n < 2) throw new Error(`a density model needs at least 2 training images, got ${n}`);
  const maxDims = opts.maxDims ?? 1280;
  const channels = dim > maxDims ? topVarianceChannels(rows, maxDims) : null;
  const p = channels ? channels.length : dim;
  const z = new Float64Array(p);
  const mean = new Float64Array(p);
  for (let r = 0; r < n; r++) {
    gather(rows, r, channels, z);
    for (let j = 0; j < p; j++) mean[j] += z[j];
  }
  for (let j = 0; j < p; j++) mean[j] /= n;
  // lower triangle of S = Xc'Xc / n, and the sum of squared row norms for Ledoit-Wolf
  const cov = new Float64Array(p * p);
  let sumNorm4 = 0;
  for (let r = 0; r < n; r++) {
    gather(rows, r, channels, z);
    let norm2 = 0;
    for (let j = 0; j < p; j++) {
      z[j] -= mean[j];
      norm2 += z[j] * z[j];
    }
    sumNorm4 += norm2 * norm2;
    for (let i = 0; i < p; i++) {
      const zi = z[i];
      if (zi === 0) continue;
      const row = i * p;
      for (let j = 0; j <= i; j++) cov[row + j] += zi * z[j];
    }
  }
  let trace = 0;
  let frob2 = 0;
  for (let i = 0; i < p; i++) {
    const row = i * p;
    for (let j = 0; j <= i; j++) {
      const v = (cov[row + j] /= n);
      frob2 += i === j ? v * v : 2 * v * v;
    }
    trace += cov[row + i];
  }
  // a floor keeps the matrix positive definite when channels are constant (dead ReLUs) and the estimate says 0
  const shrinkage = Math.max(1e-6, ledoitWolf(sumNorm4, frob2, trace, n, p));
  const mu = trace / p;
  for (let i = 0; i < p; i++) {
    const row = i * p;
    for (let j = 0; j <= i; j++) cov[row + j] *= 1 - shrinkage;
    cov[row + i] += shrinkage * mu;
  }
  return { dim, channels, p, mean: Float32Array.from(mean), chol: choleskyPacked(cov, p), shrinkage, n };
}

/**
 * Ledoit-Wolf (2004) shrinkage intensity towards mu·I for centred data, as scikit-learn computes
 * it: beta = (Σ‖x‖⁴/n − ‖S‖²_F) / n, delta = ‖S − mu·I‖²_F, shrinkage = min(beta, delta) / delta.
 */
export function ledoitWolf(sumNorm4: number, frob2: number, trace: number, n: number, p: number): number {
  const mu = trace / p;
  const delta = frob2 - p * mu * mu;
  const beta = Math.min((sumNorm4 / n - frob2) / n, delta);
  return delta > 0 ? Math.max(0, beta / delta) : 1;
}

/** Cholesky factor of a symmetric positive definite p x p matrix (lower triangle read), packed by rows, float32. */
export function choleskyPacked(a: Float64Array, p: number): Float32Array {
  const l = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    const li = i * p;
    for (let j = 0; j <= i; j++) {
      const lj = j * p;
      let s = a[li + j];
      for (let k = 0; k < j; k++) s -= l[li + k] * l[lj + k];
      if (i === j) {
        if (!(s > 0)) throw new Error(`covariance is not positive definite at channel ${i} (pivot ${s})`);
        l[li + i] = Math.sqrt(s);
      } else {
        l[li + j] = s / l[lj + j];
      }
    }
  }
  const packed = new Float32Array((p * (p + 1)) / 2);
  for (let i = 0, o = 0; i < p; i++) for (let j = 0; j <= i; j++) packed[o++] = l[i * p + j];
  return packed;
}

/**
 * Mahalanobis distances of `n` rows (each `model.dim` floats) from the training images:
 * sqrt(zᵀ C⁻¹ z) = ‖L⁻¹ z‖ by forward substitution. Non-finite features give Infinity.
 */
export function scoreRows(model: DensityModel, data: Float32Array, n: number): Float64Array {
  const { p, mean, chol, channels } = model;
  const out = new Float64Array(n);
  const z = new Float64Array(p);
  const y = new Float64Array(p);
  for (let r = 0; r < n; r++) {
    gather({ data, dim: model.dim }, r, channels, z);
    let d2 = 0;
    for (let i = 0, o = 0; i < p; i++) {
      let s = z[i] - mean[i];
      for (let k = 0; k < i; k++) s -= chol[o + k] * y[k];
      o += i;
      const v = s / chol[o];
      o += 1;
      y[i] = v;
      d2 += v * v;
    }
    out[r] = Number.isFinite(d2) ? Math.sqrt(d2) : Infinity;
  }
  return out;
}
