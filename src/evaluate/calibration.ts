/**
 * Calibration of predicted probabilities: Brier score, reliability-diagram bins and expected
 * calibration error (ECE). Bins are equal-width on [0, 1] (default 10) with scikit-learn's
 * `calibration_curve(strategy='uniform')` edges: edge_i = i·(1/bins), the first bin is [0, e1],
 * later bins (e_i, e_{i+1}]; probabilities outside [0, 1] are rejected.
 */
import { UsageError } from '../errors.js';
import { checkPredictions, type Labels, type Probs } from './validate.js';

/** Default number of equal-width calibration bins. */
export const DEFAULT_CALIBRATION_BINS = 10;

/** One reliability-diagram bin; means are null for an empty bin. */
export interface ReliabilityBin {
  lower: number;
  upper: number;
  count: number;
  /** Mean predicted probability of the bin's cases. */
  meanPredicted: number | null;
  /** Fraction of the bin's cases that are positive. */
  fractionPositive: number | null;
}

/** Calibration summary. */
export interface CalibrationSummary {
  brier: number;
  /** Σ_b (n_b / N)·|fractionPositive_b − meanPredicted_b| over non-empty bins. */
  ece: number;
  /** Largest |fractionPositive_b − meanPredicted_b| over non-empty bins. */
  mce: number;
  bins: ReliabilityBin[];
}

/** Mean squared difference between probability and label (lower is better). */
export function brierScore(probs: Probs, labels: Labels): number {
  checkPredictions(probs, labels, 'Brier score');
  if (probs.length === 0) throw new UsageError('Brier score: no predictions');
  let s = 0;
  for (let i = 0; i < probs.length; i++) s += (probs[i] - labels[i]) ** 2;
  return s / probs.length;
}

/** Reliability-diagram bins (equal width, `bins` of them; see the module comment for edges). */
export function reliabilityBins(probs: Probs, labels: Labels, bins = DEFAULT_CALIBRATION_BINS): ReliabilityBin[] {
  checkPredictions(probs, labels, 'reliability bins');
  if (!(Number.isInteger(bins) && bins >= 1)) throw new UsageError(`calibration bins must be a positive integer, got ${bins}`);
  const step = 1 / bins;
  const edges = new Float64Array(bins + 1);
  for (let i = 0; i < bins; i++) edges[i] = i * step;
  edges[bins] = 1;
  const count = new Float64Array(bins);
  const sumP = new Float64Array(bins);
  const sumY = new Float64Array(bins);
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (p < 0 || p > 1) throw new UsageError(`reliability bins: probability #${i} is ${p}, outside [0, 1]`);
    // bin = number of interior edges strictly below p
    let b = Math.min(bins - 1, Math.floor(p * bins));
    while (b > 0 && p <= edges[b]) b--;
    while (b < bins - 1 && p > edges[b + 1]) b++;
    count[b]++;
    sumP[b] += p;
    sumY[b] += labels[i];
  }
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    out.push({
      lower: edges[b],
      upper: edges[b + 1],
      count: count[b],
      meanPredicted: count[b] > 0 ? sumP[b] / count[b] : null,
      fractionPositive: count[b] > 0 ? sumY[b] / count[b] : null,
    });
  }
  return out;
}

/** Brier score, ECE, MCE and the reliability bins. */
export function calibration(probs: Probs, labels: Labels, bins = DEFAULT_CALIBRATION_BINS): CalibrationSummary {
  const rb = reliabilityBins(probs, labels, bins);
  const N = probs.length;
  let ece = 0;
  let mce = 0;
  for (const b of rb) {
    if (b.count === 0) continue;
    const gap = Math.abs(b.fractionPositive! - b.meanPredicted!);
    ece += (b.count / N) * gap;
    mce = Math.max(mce, gap);
  }
  return { brier: brierScore(probs, labels), ece, mce, bins: rb };
}
