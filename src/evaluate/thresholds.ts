/**
 * Metrics at decision thresholds. Convention throughout: a prediction is positive (COVID) when
 * `prob >= threshold`, as in scikit-learn's `roc_curve` and the reference protocol's metrics.json.
 */
import { UsageError } from '../errors.js';
import { clopperPearsonInterval, wilsonInterval, type Interval } from './binomial-ci.js';
import { checkPredictions, countPositives, type Labels, type Probs } from './validate.js';

/** Counts at one threshold. */
export interface ConfusionMatrix {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** A proportion k/n with its Wilson and Clopper-Pearson intervals; null fields when n = 0. */
export interface Proportion {
  k: number;
  n: number;
  estimate: number | null;
  wilson: Interval | null;
  clopperPearson: Interval | null;
}

/** Everything reported at one threshold. */
export interface ThresholdMetrics {
  threshold: number;
  confusion: ConfusionMatrix;
  /** tp / (tp + fn) */
  sensitivity: Proportion;
  /** tn / (tn + fp) */
  specificity: Proportion;
  /** On this set: tp / (tp + fp); null when nothing is called positive. */
  precision: number | null;
  /** 2tp / (2tp + fp + fn); null when there are no positives and none is called positive. */
  f1: number | null;
  /** PPV and NPV at the stated prevalence (Bayes from sensitivity and specificity). */
  prevalence: number;
  ppv: number | null;
  npv: number | null;
}

/** Confusion matrix with positive = `prob >= threshold`. */
export function confusionAt(probs: Probs, labels: Labels, threshold: number): ConfusionMatrix {
  checkPredictions(probs, labels, 'confusion matrix');
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < probs.length; i++) {
    const called = probs[i] >= threshold;
    if (labels[i] === 1) {
      if (called) tp++;
      else fn++;
    } else if (called) fp++;
    else tn++;
  }
  return { tp, fp, tn, fn };
}

/** k/n with Wilson and Clopper-Pearson intervals at `level`. */
export function proportion(k: number, n: number, level = 0.95): Proportion {
  if (n === 0) return { k, n, estimate: null, wilson: null, clopperPearson: null };
  return { k, n, estimate: k / n, wilson: wilsonInterval(k, n, level), clopperPearson: clopperPearsonInterval(k, n, level) };
}

/**
 * Positive and negative predictive values at a stated prevalence, by Bayes' rule:
 * PPV = se·π / (se·π + (1−sp)(1−π)), NPV = sp(1−π) / (sp(1−π) + (1−se)π). Null when undefined (0/0).
 */
export function predictiveValues(sensitivity: number, specificity: number, prevalence: number): { ppv: number | null; npv: number | null } {
  if (!(prevalence >= 0 && prevalence <= 1)) {
    throw new UsageError(`prevalence must be in [0, 1], got ${prevalence}`);
  }
  const tpMass = sensitivity * prevalence;
  const fpMass = (1 - specificity) * (1 - prevalence);
  const tnMass = specificity * (1 - prevalence);
  const fnMass = (1 - sensitivity) * prevalence;
  return {
    ppv: tpMass + fpMass > 0 ? tpMass / (tpMass + fpMass) : null,
    npv: tnMass + fnMass > 0 ? tnMass / (tnMass + fnMass) : null,
  };
}

/** Metrics derived from a confusion matrix (shared by `metricsAt` and the report's groups). */
export function metricsFromConfusion(threshold: number, c: ConfusionMatrix, prevalence: number, level = 0.95): ThresholdMetrics {
  const sensitivity = proportion(c.tp, c.tp + c.fn, level);
  const specificity = proportion(c.tn, c.tn + c.fp, level);
  const pv =
    sensitivity.estimate !== null && specificity.estimate !== null
      ? predictiveValues(sensitivity.estimate, specificity.estimate, prevalence)
      : { ppv: null, npv: null };
  return {
    threshold,
    confusion: c,
    sensitivity,
    specificity,
    precision: c.tp + c.fp > 0 ? c.tp / (c.tp + c.fp) : null,
    f1: 2 * c.tp + c.fp + c.fn > 0 ? (2 * c.tp) / (2 * c.tp + c.fp + c.fn) : null,
    prevalence,
    ...pv,
  };
}

/** Sensitivity and specificity (with CIs), precision, F1, PPV/NPV at one threshold. */
export function metricsAt(probs: Probs, labels: Labels, threshold: number, prevalence: number, level = 0.95): ThresholdMetrics {
  return metricsFromConfusion(threshold, confusionAt(probs, labels, threshold), prevalence, level);
}

/** `metricsAt` for each threshold of a list, in the given order. */
export function metricsAtThresholds(
  probs: Probs,
  labels: Labels,
  thresholds: readonly number[],
  prevalence: number,
  level = 0.95,
): ThresholdMetrics[] {
  return thresholds.map((t) => metricsAt(probs, labels, t, prevalence, level));
}

/**
 * The largest threshold whose sensitivity on this set reaches `target` (e.g. 0.98): the k-th
 * highest positive score, k the smallest count with k/P >= target. Any higher threshold loses
 * that positive. Pick it on validation data for an operating point; picked on the test set it
 * is optimistic (the set is used twice). Returns null when the set has no positives.
 */
export function thresholdForSensitivity(probs: Probs, labels: Labels, target: number): number | null {
  checkPredictions(probs, labels, 'threshold for sensitivity');
  if (!(target > 0 && target <= 1)) {
    throw new UsageError(`target sensitivity must be in (0, 1], got ${target}`);
  }
  const P = countPositives(labels);
  if (P === 0) return null;
  const pos = new Float64Array(P);
  for (let i = 0, j = 0; i < probs.length; i++) if (labels[i] === 1) pos[j++] = probs[i];
  pos.sort(); // ascending: k-th highest is pos[P - k]
  let k = 1;
  while (k / P < target) k++; // k/P as a division, so 49/50 >= 0.98 holds exactly
  return pos[P - k];
}
