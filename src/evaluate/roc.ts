/**
 * ROC curve and AUC.
 *
 * The curve follows scikit-learn's `roc_curve`: one point per distinct score (tied scores form one
 * point, never a staircase through the ties), scores taken in descending order, a prediction is
 * positive when `prob >= threshold`, and a first point (0, 0) at threshold +Infinity (as
 * scikit-learn >= 1.3). By default every distinct threshold is kept (`drop_intermediate=False`);
 * `dropIntermediate: true` removes collinear points exactly as scikit-learn's default does.
 */
import { UsageError } from '../errors.js';
import { checkPredictions, countPositives, indicesByDescendingProb, type Labels, type Probs } from './validate.js';

/** ROC points: `fpr[i]`, `tpr[i]` reached when predicting positive for `prob >= thresholds[i]`. */
export interface RocCurve {
  fpr: number[];
  tpr: number[];
  /** Descending; `thresholds[0]` is +Infinity (the all-negative point). */
  thresholds: number[];
}

/** ROC curve points (see the module comment for the tie and threshold conventions). */
export function rocCurve(probs: Probs, labels: Labels, opts: { dropIntermediate?: boolean } = {}): RocCurve {
  checkPredictions(probs, labels, 'ROC curve');
  const pos = countPositives(labels);
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) {
    throw new UsageError(`ROC curve: needs both classes, got ${pos} positives and ${neg} negatives`);
  }
  const order = indicesByDescendingProb(probs);
  // cumulative counts at the last index of each run of equal scores
  const tps: number[] = [0];
  const fps: number[] = [0];
  const thr: number[] = [Infinity];
  let tp = 0;
  let fp = 0;
  for (let r = 0; r < order.length; r++) {
    const i = order[r];
    if (labels[i] === 1) tp++;
    else fp++;
    if (r === order.length - 1 || probs[order[r + 1]] !== probs[i]) {
      tps.push(tp);
      fps.push(fp);
      thr.push(probs[i]);
    }
  }
  let keep: number[] | null = null;
  if (opts.dropIntermediate && tps.length - 1 > 2) {
    // scikit-learn: over the score points (before the (0, 0) point is prepended) keep both ends and
    // every point where the second difference of fps or tps is non-zero
    keep = [0, 1];
    for (let k = 2; k < tps.length - 1; k++) {
      if (fps[k - 1] - 2 * fps[k] + fps[k + 1] !== 0 || tps[k - 1] - 2 * tps[k] + tps[k + 1] !== 0) keep.push(k);
    }
    keep.push(tps.length - 1);
  }
  const ks = keep ?? tps.map((_, k) => k);
  return {
    fpr: ks.map((k) => fps[k] / neg),
    tpr: ks.map((k) => tps[k] / pos),
    thresholds: ks.map((k) => thr[k]),
  };
}

/** Area under a piecewise-linear curve given by (x, y) points in increasing x (trapezoid rule). */
export function trapezoidArea(x: readonly number[], y: readonly number[]): number {
  let a = 0;
  for (let i = 1; i < x.length; i++) a += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
  return a;
}

/**
 * Area under the ROC curve as the Mann-Whitney statistic: the probability that a random positive
 * scores above a random negative, ties counting one half. Equals the trapezoid area under
 * `rocCurve` (and scikit-learn's `roc_auc_score`). Needs at least one case of each class.
 */
export function rocAuc(probs: Probs, labels: Labels): number {
  checkPredictions(probs, labels, 'AUC');
  const pos = countPositives(labels);
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) {
    throw new UsageError(`AUC: needs both classes, got ${pos} positives and ${neg} negatives`);
  }
  const order = indicesByDescendingProb(probs);
  // walk tie groups from the top; count (positive, negative) pairs with the positive above
  let negAbove = 0;
  let wins = 0;
  let r = 0;
  while (r < order.length) {
    let gp = 0;
    let gn = 0;
    const v = probs[order[r]];
    while (r < order.length && probs[order[r]] === v) {
      if (labels[order[r]] === 1) gp++;
      else gn++;
      r++;
    }
    // positives in this group beat every negative below: count negatives below as total minus above minus tied
    wins += gp * (neg - negAbove - gn) + 0.5 * gp * gn;
    negAbove += gn;
  }
  return wins / (pos * neg);
}
