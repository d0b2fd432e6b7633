/**
 * Evaluation statistics for deep-covid predictions (1 = COVID positive): `evaluatePredictions`
 * builds one plain JSON-serialisable `EvaluationReport`; the building blocks are re-exported.
 */
import { UsageError } from '../errors.js';
import { calibration, DEFAULT_CALIBRATION_BINS, type CalibrationSummary } from './calibration.js';
import { bootstrapAucCi, delongAuc, type BootstrapAucResult } from './delong.js';
import { rocAuc, rocCurve } from './roc.js';
import { metricsAt, thresholdForSensitivity, type ThresholdMetrics } from './thresholds.js';
import { checkPredictions, countPositives, type Labels, type Probs } from './validate.js';
import { PREDICTIVE_VALUE_METHOD, predictiveValueTable, REPORT_PREVALENCES, type PredictiveValuesAt } from './predictive-values.js';

export { brierScore, calibration, reliabilityBins, DEFAULT_CALIBRATION_BINS } from './calibration.js';
export type { CalibrationSummary, ReliabilityBin } from './calibration.js';
export { bootstrapAucCi, delongAuc, midranks } from './delong.js';
export type { BootstrapAucResult, BootstrapOptions, DelongResult } from './delong.js';
export { betaQuantile, clopperPearsonInterval, regularizedIncompleteBeta, wilsonInterval } from './binomial-ci.js';
export type { Interval } from './binomial-ci.js';
export { rocAuc, rocCurve, trapezoidArea } from './roc.js';
export type { RocCurve } from './roc.js';
export {
  confusionAt,
  metricsAt,
  metricsAtThresholds,
  metricsFromConfusion,
  predictiveValues,
  proportion,
  thresholdForSensitivity,
} from './thresholds.js';
export type { ConfusionMatrix, Proportion, ThresholdMetrics } from './thresholds.js';
export { predictiveValuesAt, predictiveValueTable, PREDICTIVE_VALUE_METHOD, REPORT_PREVALENCES } from './predictive-values.js';
export type { OperatingCounts, PredictiveValuesAt, ValueWithInterval } from './predictive-values.js';
export { normalQuantile, twoSidedZ } from '../util/normal.js';
export type { Labels, Probs } from './validate.js';

/** Predictions to evaluate; all arrays are parallel (one entry per image). */
export interface EvaluationInput {
  probs: Probs;
  labels: Labels;
  /** Patient id per image; enables the patient-clustered bootstrap CI of the AUC. */
  patients?: readonly string[];
  /** Optional grouping per image: metrics are repeated for every source and every view. */
  groups?: { source?: readonly string[]; view?: readonly string[] };
}

/** Settings of `evaluatePredictions`. */
export interface EvaluationOptions {
  /** Thresholds of the per-threshold table (e.g. 0.1..0.5). */
  thresholds: readonly number[];
  /** The operating threshold chosen beforehand (on validation data). */
  operatingThreshold: number;
  /** Target sensitivity for the optimistic threshold chosen on this set (e.g. 0.98). */
  targetSensitivity: number;
  /** Prevalence at which PPV and NPV are stated. */
  prevalence: number;
  /** Confidence level of every interval, default 0.95. */
  level?: number;
  /** Equal-width calibration bins, default 10. */
  calibrationBins?: number;
  /** Patient bootstrap settings (used only when `patients` is given), default 2000 reps, seed 0. */
  bootstrap?: { reps: number; seed: number };
}

/** AUC with its intervals. */
export interface AucReport {
  value: number;
  /** DeLong interval; null with fewer than 2 positives or 2 negatives. */
  delong: { variance: number; se: number; lower: number; upper: number } | null;
  /** Patient-clustered percentile bootstrap; null without patient ids. */
  patientBootstrap: BootstrapAucResult | null;
}

/** ROC points; `thresholds[0]` is null, standing for +Infinity (nothing called positive). */
export interface RocReport {
  fpr: number[];
  tpr: number[];
  thresholds: (number | null)[];
}

/** The threshold reaching the target sensitivity, chosen on the evaluated set itself. */
export interface OptimisticThreshold {
  targetSensitivity: number;
  threshold: number;
  /** Always true: the threshold was fitted on the data it is evaluated on. */
  optimistic: true;
  metrics: ThresholdMetrics;
}

/** Metrics of one set of predictions (the whole set or one group). */
export interface MetricsReport {
  n: number;
  positives: number;
  negatives: number;
  /** Distinct patients, when patient ids were given. */
  patients: number | null;
  /** Null when one class is absent. */
  auc: AucReport | null;
  roc: RocReport | null;
  atThresholds: ThresholdMetrics[];
  operatingPoint: ThresholdMetrics;
  /** Null when the set has no positives. */
  optimisticThreshold: OptimisticThreshold | null;
  calibration: CalibrationSummary;
}

/** Conventions, stated in the report so readers of the JSON need not guess. */
export interface EvaluationConventions {
  positiveWhen: 'prob >= threshold';
  level: number;
  aucCi: string;
  proportionCi: string;
  roc: string;
  ppvNpv: string;
  /** How the intervals of `predictiveValues` are made. */
  predictiveValues?: string;
  calibrationBins: number;
  calibration: string;
  bootstrap: { reps: number; seed: number } | null;
}

/** Full evaluation: overall metrics plus the same metrics per source and per view when given. */
export interface EvaluationReport extends MetricsReport {
  conventions: EvaluationConventions;
  /**
   * This set's share of COVID images: what P(COVID) and the precision seen here are calibrated to
   * (absent in metrics.json written before it existed).
   */
  setPrevalence?: number;
  /**
   * PPV and NPV with intervals at the operating threshold, at 1%, 5%, 10%, this set's prevalence and
   * the stated one; null when the set lacks a class (absent in older metrics.json).
   */
  predictiveValues?: PredictiveValuesAt[] | null;
  bySource: Record<string, MetricsReport> | null;
  byView: Record<string, MetricsReport> | null;
}

interface Settings {
  thresholds: readonly number[];
  operatingThreshold: number;
  targetSensitivity: number;
  prevalence: number;
  level: number;
  bins: number;
  bootstrap: { reps: number; seed: number };
}

function metricsReport(probs: Float64Array, labels: Uint8Array, patients: readonly string[] | null, s: Settings): MetricsReport {
  const n = probs.length;
  const positives = countPositives(labels);
  const negatives = n - positives;
  const both = positives > 0 && negatives > 0;
  let auc: AucReport | null = null;
  let roc: RocReport | null = null;
  if (both) {
    const dl = positives >= 2 && negatives >= 2 ? delongAuc(probs, labels, s.level) : null;
    auc = {
      value: dl ? dl.auc : rocAuc(probs, labels),
      delong: dl ? { variance: dl.variance, se: dl.se, lower: dl.lower, upper: dl.upper } : null,
      patientBootstrap: patients
        ? bootstrapAucCi(probs, labels, patients, { reps: s.bootstrap.reps, seed: s.bootstrap.seed, level: s.level })
        : null,
    };
    const curve = rocCurve(probs, labels);
    roc = { fpr: curve.fpr, tpr: curve.tpr, thresholds: curve.thresholds.map((t) => (Number.isFinite(t) ? t : null)) };
  }
  const opt = thresholdForSensitivity(probs, labels, s.targetSensitivity);
  return {
    n,
    positives,
    negatives,
    patients: patients ? new Set(patients).size : null,
    auc,
    roc,
    atThresholds: s.thresholds.map((t) => metricsAt(probs, labels, t, s.prevalence, s.level)),
    operatingPoint: metricsAt(probs, labels, s.operatingThreshold, s.prevalence, s.level),
    optimisticThreshold:
      opt === null
        ? null
        : {
            targetSensitivity: s.targetSensitivity,
            threshold: opt,
            optimistic: true,
            metrics: metricsAt(probs, labels, opt, s.prevalence, s.level),
          },
    calibration: calibration(probs, labels, s.bins),
  };
}

function byGroup(
  keys: readonly string[],
  probs: Float64Array,
  labels: Uint8Array,
  patients: readonly string[] | null,
  s: Settings,
): Record<string, MetricsReport> {
  const members = new Map<string, number[]>();
  keys.forEach((k, i) => {
    const list = members.get(k);
    if (list) list.push(i);
    else members.set(k, [i]);
  });
  const out: Record<string, MetricsReport> = {};
  for (const key of [...members.keys()].sort()) {
    const idx = members.get(key)!;
    const gp = new Float64Array(idx.length);
    const gl = new Uint8Array(idx.length);
    idx.forEach((i, j) => {
      gp[j] = probs[i];
      gl[j] = labels[i];
    });
    out[key] = metricsReport(gp, gl, patients ? idx.map((i) => patients[i]) : null, s);
  }
  return out;
}

function checkParallel(name: string, arr: readonly string[] | undefined, n: number): void {
  if (arr !== undefined && arr.length !== n) {
    throw new UsageError(`evaluatePredictions: ${name} has ${arr.length} entries for ${n} predictions; give one per prediction`);
  }
}

/**
 * Evaluates binary predictions: AUC with DeLong CI (and patient bootstrap CI when patient ids are
 * given), ROC points, sensitivity/specificity with Wilson and Clopper-Pearson CIs at each listed
 * threshold and at the operating threshold, the optimistic threshold for the target sensitivity
 * chosen on this set, calibration, and all of that per source and per view when groups are given.
 * Positive means `prob >= threshold`.
 */
export function evaluatePredictions(input: EvaluationInput, options: EvaluationOptions): EvaluationReport {
  checkPredictions(input.probs, input.labels, 'evaluatePredictions');
  const n = input.probs.length;
  if (n === 0) throw new UsageError('evaluatePredictions: no predictions to evaluate');
  checkParallel('patients', input.patients, n);
  checkParallel('groups.source', input.groups?.source, n);
  checkParallel('groups.view', input.groups?.view, n);
  const s: Settings = {
    thresholds: options.thresholds,
    operatingThreshold: options.operatingThreshold,
    targetSensitivity: options.targetSensitivity,
    prevalence: options.prevalence,
    level: options.level ?? 0.95,
    bins: options.calibrationBins ?? DEFAULT_CALIBRATION_BINS,
    bootstrap: options.bootstrap ?? { reps: 2000, seed: 0 },
  };
  const probs = Float64Array.from(input.probs);
  const labels = Uint8Array.from(input.labels);
  const patients = input.patients ?? null;
  const overall = metricsReport(probs, labels, patients, s);
  return {
    conventions: {
      positiveWhen: 'prob >= threshold',
      level: s.level,
      aucCi: 'DeLong variance by the fast midrank algorithm (Sun & Xu 2014); auc ± z·se, clipped to [0, 1]',
      proportionCi: 'Wilson score and Clopper-Pearson exact intervals (statsmodels wilson / beta)',
      roc: 'one point per distinct score, none dropped (scikit-learn roc_curve, drop_intermediate=False); first threshold null = +Infinity',
      ppvNpv: 'Bayes from sensitivity and specificity at the stated prevalence; precision is PPV on this set',
      predictiveValues: PREDICTIVE_VALUE_METHOD,
      calibrationBins: s.bins,
      calibration: 'equal-width bins on [0, 1] (scikit-learn calibration_curve uniform edges); ECE weighted by bin count',
      bootstrap: patients ? s.bootstrap : null,
    },
    ...overall,
    setPrevalence: overall.positives / n,
    predictiveValues: overall.positives > 0 && overall.negatives > 0
      ? predictiveValueTable(overall.operatingPoint.confusion, [...REPORT_PREVALENCES, overall.positives / n, s.prevalence], s.level)
      : null,
    bySource: input.groups?.source ? byGroup(input.groups.source, probs, labels, patients, s) : null,
    byView: input.groups?.view ? byGroup(input.groups.view, probs, labels, patients, s) : null,
  };
}
