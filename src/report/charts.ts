/**
 * Vega-Lite specs of the report's charts (the paper's Figs. 5–11 plus calibration and training
 * curves). Each takes the prepared numbers of chart-data.ts; data are inlined in the spec.
 */
import type { TopLevelSpec } from 'vega-lite';
import { LOGIT_BINS, logit, type HistogramBin, type ConfusionCell, type LossPoint, type ReliabilityPoint, type RocPoint, type SweepInterval, type SweepPoint } from './chart-data.js';

const CLASS_COLORS = { domain: ['COVID', 'non-COVID'], range: ['#c0392b', '#2471a3'] };
const SWEEP_COLORS = { domain: ['sensitivity', 'specificity'], range: ['#c0392b', '#2471a3'] };
const LOSS_COLORS = { domain: ['training loss', 'validation loss'], range: ['#7f8c8d', '#d35400'] };
const UNIT_AXIS = { values: [0, 0.2, 0.4, 0.6, 0.8, 1], format: '.1f' };

/** A label drawn twice, first as a thick white outline, so it stays legible over bars and lines. */
function haloText(mark: Record<string, unknown>, encoding: Record<string, unknown>) {
  return [
    { mark: { ...mark, stroke: 'white', strokeWidth: 3, strokeJoin: 'round' }, encoding },
    { mark, encoding },
  ];
}

/** Operating point of one model, marked on the ROC chart. */
export interface RocMarker {
  model: string;
  fpr: number;
  tpr: number;
}

/** ROC curves of all models on one chart, AUCs in the legend labels (paper Fig. 11). */
export function rocSpec(points: RocPoint[], markers: RocMarker[], title: string): TopLevelSpec {
  const models = [...new Set(points.map((p) => p.model))];
  const color = { field: 'model', type: 'nominal', title: null, sort: models, scale: { domain: models, scheme: 'tableau10' } } as const;
  return {
    width: 420,
    height: 420,
    title,
    layer: [
      {
        data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
        mark: { type: 'line', strokeDash: [4, 4], color: '#999', strokeWidth: 1 },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      },
      {
        data: { values: points },
        mark: { type: 'line', strokeWidth: 2, interpolate: 'linear' },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: 'False positive rate (1 − specificity)', scale: { domain: [0, 1] }, axis: UNIT_AXIS },
          y: { field: 'tpr', type: 'quantitative', title: 'True positive rate (sensitivity)', scale: { domain: [0, 1] }, axis: UNIT_AXIS },
          // below the plot, one model per line, labels never cut: nothing hides the curves
          color: { ...color, legend: { orient: 'bottom', direction: 'vertical', columns: 1, labelLimit: 2000, symbolType: 'stroke', symbolStrokeWidth: 3 } },
          order: { field: 'i', type: 'quantitative' },
        },
      },
      {
        data: { values: markers },
        mark: { type: 'point', filled: true, size: 70, shape: 'diamond', stroke: 'black', strokeWidth: 0.8 },
        encoding: {
          x: { field: 'fpr', type: 'quantitative' },
          y: { field: 'tpr', type: 'quantitative' },
          color: { ...color, legend: null },
        },
      },
    ],
  } as TopLevelSpec;
}

/** How the histograms' x axis reads, for captions. */
export const HISTOGRAM_AXIS_NOTE = `on a log-odds axis (bars ${LOGIT_BINS.width} wide in ln(p/(1−p)), labelled in probabilities, so values near 0 and 1 such as a 0.04 threshold are spread out; the end bars hold everything below ${probabilityLabel(-LOGIT_BINS.limit)} or above 1 − ${probabilityLabel(-LOGIT_BINS.limit)})`;

function probabilityLabel(x: number): string {
  return String(Number((1 / (1 + Math.exp(-x))).toPrecision(2)));
}

/** Probabilities marked on the log-odds axis. */
const LOGIT_TICKS = [0.0001, 0.001, 0.01, 0.04, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999];

/** One class's histogram of P(COVID) on the log-odds axis, with the operating threshold marked. */
function histogramPanel(bins: HistogramBin[], cls: HistogramBin['cls'], threshold: number, total: number) {
  const { limit } = LOGIT_BINS;
  const clampLogit = (p: number) => Math.min(limit, Math.max(-limit, logit(p)));
  return {
    width: 460,
    height: 150,
    title: { text: `${cls} test images (n = ${total})`, fontSize: 12, fontWeight: 'normal' },
    layer: [
      {
        data: { values: bins.filter((b) => b.cls === cls) },
        mark: { type: 'bar', stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          x: {
            field: 'lowerLogit', type: 'quantitative', bin: { binned: true, step: LOGIT_BINS.width }, title: 'P(COVID), log-odds scale', scale: { domain: [-limit, limit] },
            axis: { values: LOGIT_TICKS.map(logit), labelExpr: "format(1 / (1 + exp(-datum.value)), '.4~g')", labelOverlap: false, labelFontSize: 10 },
          },
          x2: { field: 'upperLogit' },
          y: { field: 'count', type: 'quantitative', title: 'images', axis: { tickMinStep: 1 } },
          color: { field: 'cls', type: 'nominal', scale: CLASS_COLORS, legend: null },
        },
      },
      {
        data: { values: [{ t: clampLogit(threshold), label: `threshold ${threshold.toFixed(4)}` }] },
        layer: [
          { mark: { type: 'rule', strokeDash: [5, 3], color: 'black' }, encoding: { x: { field: 't', type: 'quantitative' } } },
          ...haloText({ type: 'text', align: 'left', dx: 4, dy: 2, baseline: 'top', fontSize: 11 }, { x: { field: 't', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } }),
        ],
      },
    ],
  };
}

/** Histograms of P(COVID) for COVID and non-COVID test images (paper Figs. 7–10), log-odds axis. */
export function histogramSpec(bins: HistogramBin[], threshold: number, title: string): TopLevelSpec {
  const total = (cls: HistogramBin['cls']) => bins.filter((b) => b.cls === cls).reduce((s, b) => s + b.count, 0);
  return {
    title,
    vconcat: [histogramPanel(bins, 'COVID', threshold, total('COVID')), histogramPanel(bins, 'non-COVID', threshold, total('non-COVID'))],
    spacing: 18,
  } as TopLevelSpec;
}

/** Confusion matrix as a heat table with counts and row shares (paper Figs. 5–6). */
export function confusionSpec(cells: ConfusionCell[], title: string): TopLevelSpec {
  const order = ['COVID', 'non-COVID'];
  const values = cells.map((c) => ({ ...c, text: `${c.count} (${(100 * c.rowShare).toFixed(1)}%)` }));
  return {
    width: 300,
    height: 200,
    title,
    data: { values },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: order, title: 'Predicted', axis: { orient: 'top', labelAngle: 0, labelFontSize: 12 } },
      y: { field: 'actual', type: 'nominal', sort: order, title: 'Actual', axis: { labelFontSize: 12 } },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
        encoding: {
          color: { field: 'rowShare', type: 'quantitative', title: 'row share', scale: { scheme: 'blues', domain: [0, 1] }, legend: { format: '.0%', values: [0, 0.5, 1], gradientLength: 120 } },
        },
      },
      {
        mark: { type: 'text', fontSize: 16 },
        encoding: {
          text: { field: 'text' },
          color: { condition: { test: 'datum.rowShare > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  } as TopLevelSpec;
}

/**
 * Sensitivity and specificity against the threshold: step lines over every distinct score, Wilson
 * intervals at the table's thresholds and the operating threshold marked.
 */
export function sweepSpec(points: SweepPoint[], intervals: SweepInterval[], threshold: number, title: string): TopLevelSpec {
  const color = { field: 'metric', type: 'nominal', title: null, scale: SWEEP_COLORS } as const;
  const x = { field: 'threshold', type: 'quantitative', title: 'Threshold on P(COVID) (COVID when P ≥ threshold)', scale: { domain: [0, 1] }, axis: UNIT_AXIS } as const;
  return {
    width: 480,
    height: 280,
    title,
    layer: [
      {
        data: { values: points },
        mark: { type: 'line', interpolate: 'step-before', strokeWidth: 2 },
        encoding: { x, y: { field: 'value', type: 'quantitative', title: 'Proportion', scale: { domain: [0, 1] }, axis: UNIT_AXIS }, color: { ...color, legend: { orient: 'bottom', direction: 'horizontal' } } },
      },
      {
        data: { values: intervals },
        layer: [
          { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { x: { field: 'threshold', type: 'quantitative' }, y: { field: 'lower', type: 'quantitative' }, y2: { field: 'upper' }, color: { ...color, legend: null } } },
          { mark: { type: 'point', filled: true, size: 30 }, encoding: { x: { field: 'threshold', type: 'quantitative' }, y: { field: 'value', type: 'quantitative' }, color: { ...color, legend: null } } },
        ],
      },
      {
        data: { values: [{ t: threshold, label: `operating threshold ${threshold.toFixed(4)}` }] },
        layer: [
          { mark: { type: 'rule', strokeDash: [5, 3], color: 'black' }, encoding: { x: { field: 't', type: 'quantitative' } } },
          ...haloText({ type: 'text', align: 'left', dx: 4, dy: -2, baseline: 'bottom', fontSize: 11 }, { x: { field: 't', type: 'quantitative' }, y: { value: 280 }, text: { field: 'label' } }),
        ],
      },
    ],
  } as TopLevelSpec;
}

/** Reliability (calibration) diagram, point size by bin count; Brier and ECE in the title. */
export function reliabilitySpec(points: ReliabilityPoint[], brier: number, ece: number, title: string): TopLevelSpec {
  const max = points.reduce((m, p) => Math.max(m, p.count), 1);
  const sizeValues = [...new Set([Math.max(1, Math.round(max / 10)), Math.round(max / 2), max])];
  const unit = (t: string) => ({ type: 'quantitative', title: t, scale: { domain: [0, 1] }, axis: UNIT_AXIS }) as const;
  return {
    width: 340,
    height: 340,
    title: { text: title, subtitle: `Brier score ${brier.toFixed(4)} · ECE ${ece.toFixed(4)} (10 equal-width bins)` },
    layer: [
      {
        data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
        mark: { type: 'line', strokeDash: [4, 4], color: '#999', strokeWidth: 1 },
        encoding: { x: { field: 'x', ...unit('Mean predicted P(COVID) in bin') }, y: { field: 'y', ...unit('Fraction of COVID images in bin') } },
      },
      {
        data: { values: points },
        layer: [
          { mark: { type: 'line', color: '#2471a3' }, encoding: { x: { field: 'meanPredicted', type: 'quantitative' }, y: { field: 'fractionPositive', type: 'quantitative' } } },
          {
            mark: { type: 'point', filled: true, color: '#2471a3', opacity: 0.85 },
            encoding: {
              x: { field: 'meanPredicted', type: 'quantitative' },
              y: { field: 'fractionPositive', type: 'quantitative' },
              size: { field: 'count', type: 'quantitative', title: 'images in bin', scale: { domain: [0, max], range: [0, 400] }, legend: { orient: 'right', values: sizeValues } },
            },
          },
        ],
      },
    ],
  } as TopLevelSpec;
}

/** Training curve: training and validation loss per epoch with the best epoch marked. */
export function lossSpec(points: LossPoint[], bestEpoch: number, title: string): TopLevelSpec {
  // the label goes on the side of the rule with more room
  const last = points.reduce((m, p) => Math.max(m, p.epoch), 1);
  const right = bestEpoch <= last * 0.55;
  return {
    width: 480,
    height: 260,
    title,
    layer: [
      {
        data: { values: points },
        mark: { type: 'line', strokeWidth: 1.8 },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'Epoch', axis: { tickMinStep: 1 } },
          y: { field: 'loss', type: 'quantitative', title: 'Cross-entropy loss', scale: { zero: false } },
          color: { field: 'series', type: 'nominal', title: null, scale: LOSS_COLORS, legend: { orient: 'bottom', direction: 'horizontal' } },
        },
      },
      {
        data: { values: [{ e: bestEpoch, label: `best epoch ${bestEpoch} (lowest validation loss)` }] },
        layer: [
          { mark: { type: 'rule', strokeDash: [5, 3], color: 'black' }, encoding: { x: { field: 'e', type: 'quantitative' } } },
          ...haloText({ type: 'text', align: right ? 'left' : 'right', dx: right ? 4 : -4, baseline: 'top', fontSize: 11 }, { x: { field: 'e', type: 'quantitative' }, y: { value: 4 }, text: { field: 'label' } }),
        ],
      },
    ],
  } as TopLevelSpec;
}
