/**
 * The numbers behind each chart, computed apart from the chart specs so tests can compare them
 * with metrics.json and predictions.csv directly.
 */
import type { CalibrationSummary, ConfusionMatrix, RocReport, ThresholdMetrics } from '../evaluate/index.js';
import type { HistoryRow, PredictionRow } from './run-data.js';

/** One ROC point of one model; `i` keeps the curve's order (vertical steps share an fpr). */
export interface RocPoint {
  model: string;
  i: number;
  fpr: number;
  tpr: number;
}

/** ROC points of several models, in each curve's own order. */
export function rocPoints(models: { label: string; roc: RocReport }[]): RocPoint[] {
  const out: RocPoint[] = [];
  for (const m of models) {
    for (let i = 0; i < m.roc.fpr.length; i++) out.push({ model: m.label, i, fpr: m.roc.fpr[i], tpr: m.roc.tpr[i] });
  }
  return out;
}

/** One histogram bar: images of `cls` with lower <= P(COVID) < upper (the last bin includes 1). */
export interface HistogramBin {
  cls: 'COVID' | 'non-COVID';
  lower: number;
  upper: number;
  /** The bar's edges on the chart's log-odds axis, ln(p / (1 − p)); the end bins hold everything beyond. */
  lowerLogit: number;
  upperLogit: number;
  count: number;
}

/** The log-odds histogram's settings: bins `width` wide between −`limit` and +`limit`. */
export const LOGIT_BINS = Object.freeze({ limit: 9, width: 0.5 });

/** ln(p / (1 − p)). */
export function logit(p: number): number {
  return Math.log(p / (1 - p));
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * Histogram of P(COVID) per true class on log-odds bins (LOGIT_BINS): equal widths in
 * ln(p / (1 − p)) spread out the probabilities near 0 and 1 where thresholds such as 0.04 lie,
 * which equal-width bins over [0, 1] squeeze into one bar. The first bin holds everything below
 * sigmoid(−limit) (about 0.0001), the last everything above sigmoid(limit).
 */
export function probabilityHistogram(rows: readonly PredictionRow[]): HistogramBin[] {
  const { limit, width } = LOGIT_BINS;
  const n = Math.round((2 * limit) / width);
  const logitEdges = Array.from({ length: n + 1 }, (_, k) => -limit + k * width);
  // probability edges: bins are assigned by comparing probabilities, the data's own scale
  const edges = logitEdges.map(sigmoid);
  edges[0] = 0;
  edges[n] = 1;
  const counts = [new Float64Array(n), new Float64Array(n)];
  for (const r of rows) {
    let lo = 0;
    let hi = n - 1;
    // the last bin whose lower edge is <= p
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (edges[mid] <= r.probability) lo = mid;
      else hi = mid - 1;
    }
    counts[r.label][lo]++;
  }
  const out: HistogramBin[] = [];
  for (const [label, cls] of [[1, 'COVID'], [0, 'non-COVID']] as const) {
    for (let b = 0; b < n; b++) out.push({ cls, lower: edges[b], upper: edges[b + 1], lowerLogit: logitEdges[b], upperLogit: logitEdges[b + 1], count: counts[label][b] });
  }
  return out;
}

/** One confusion-matrix cell. */
export interface ConfusionCell {
  actual: 'COVID' | 'non-COVID';
  predicted: 'COVID' | 'non-COVID';
  count: number;
  /** Share of the actual class, 0..1 (0 when the class is empty). */
  rowShare: number;
}

/** The four cells of a confusion matrix, actual COVID first. */
export function confusionCells(c: ConfusionMatrix): ConfusionCell[] {
  const pos = c.tp + c.fn;
  const neg = c.tn + c.fp;
  const share = (k: number, n: number) => (n > 0 ? k / n : 0);
  return [
    { actual: 'COVID', predicted: 'COVID', count: c.tp, rowShare: share(c.tp, pos) },
    { actual: 'COVID', predicted: 'non-COVID', count: c.fn, rowShare: share(c.fn, pos) },
    { actual: 'non-COVID', predicted: 'COVID', count: c.fp, rowShare: share(c.fp, neg) },
    { actual: 'non-COVID', predicted: 'non-COVID', count: c.tn, rowShare: share(c.tn, neg) },
  ];
}

/** Sensitivity or specificity reached at a threshold (from the ROC's distinct scores). */
export interface SweepPoint {
  metric: 'sensitivity' | 'specificity';
  threshold: number;
  value: number;
}

/** Sensitivity (tpr) and specificity (1 − fpr) at every finite ROC threshold, ascending. */
export function thresholdSweep(roc: RocReport): SweepPoint[] {
  const idx: number[] = [];
  roc.thresholds.forEach((t, i) => {
    if (t !== null) idx.push(i);
  });
  idx.reverse(); // ROC thresholds descend; the chart reads left to right
  const out: SweepPoint[] = [];
  for (const i of idx) out.push({ metric: 'sensitivity', threshold: roc.thresholds[i]!, value: roc.tpr[i] });
  for (const i of idx) out.push({ metric: 'specificity', threshold: roc.thresholds[i]!, value: 1 - roc.fpr[i] });
  return out;
}

/** A point with its Wilson interval at one of the table's thresholds. */
export interface SweepInterval {
  metric: 'sensitivity' | 'specificity';
  threshold: number;
  value: number;
  lower: number;
  upper: number;
}

/** Wilson intervals of sensitivity and specificity at the per-threshold table's thresholds. */
export function sweepIntervals(at: readonly ThresholdMetrics[]): SweepInterval[] {
  const out: SweepInterval[] = [];
  for (const t of at) {
    for (const metric of ['sensitivity', 'specificity'] as const) {
      const p = t[metric];
      if (p.estimate !== null && p.wilson) out.push({ metric, threshold: t.threshold, value: p.estimate, lower: p.wilson[0], upper: p.wilson[1] });
    }
  }
  return out;
}

/** A non-empty reliability bin. */
export interface ReliabilityPoint {
  meanPredicted: number;
  fractionPositive: number;
  count: number;
}

/** The reliability diagram's points: non-empty calibration bins. */
export function reliabilityPoints(c: CalibrationSummary): ReliabilityPoint[] {
  return c.bins
    .filter((b) => b.count > 0 && b.meanPredicted !== null && b.fractionPositive !== null)
    .map((b) => ({ meanPredicted: b.meanPredicted!, fractionPositive: b.fractionPositive!, count: b.count }));
}

/** One loss value of the training curve. */
export interface LossPoint {
  epoch: number;
  series: 'training loss' | 'validation loss';
  loss: number;
}

/** Training and validation loss per epoch. */
export function lossPoints(history: readonly HistoryRow[]): LossPoint[] {
  return [
    ...history.map((h) => ({ epoch: h.epoch, series: 'training loss' as const, loss: h.trainLoss })),
    ...history.map((h) => ({ epoch: h.epoch, series: 'validation loss' as const, loss: h.valLoss })),
  ];
}
