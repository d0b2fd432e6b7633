import type { DatasetItem } from '../dataset/read.js';
import type { EpochRecord } from '../head/index.js';
import { predictiveValueTable, PREDICTIVE_VALUE_METHOD, REPORT_PREVALENCES, type EvaluationReport, type PredictiveValuesAt, type ThresholdMetrics } from '../evaluate/index.js';
import { formatCsv } from '../util/csv.js';
import type { RunRecord } from './run-folder.js';
import { mdCode, mdText } from '../util/markdown-text.js';

/** Per-image predictions: file, label, probability, prediction at the threshold, patient, source, view. */
export function predictionsCsv(items: DatasetItem[], probs: Float64Array, threshold: number): string {
  const rows = items.map((it, i) => ({
    file: it.rel,
    label: it.label === 1 ? 'covid' : 'non',
    probability: probs[i].toFixed(6),
    predicted: probs[i] >= threshold ? 'covid' : 'non',
    patient: it.patient ?? '',
    source: it.source ?? '',
    view: it.view ?? '',
  }));
  return formatCsv(rows, ['file', 'label', 'probability', 'predicted', 'patient', 'source', 'view']);
}

/** Training curve: loss and validation metrics per epoch. */
export function historyCsv(history: EpochRecord[]): string {
  return formatCsv(
    history.map((h) => ({ epoch: h.epoch, train_loss: h.trainLoss.toFixed(6), val_loss: h.valLoss.toFixed(6), val_accuracy: h.valAccuracy.toFixed(4), best_so_far: h.improved ? 1 : 0 })),
    ['epoch', 'train_loss', 'val_loss', 'val_accuracy', 'best_so_far'],
  );
}

/** "98.0% (95.1–99.2)" for a proportion with its Wilson interval, or "n/a". */
export function pctCi(p: ThresholdMetrics['sensitivity']): string {
  if (p.estimate === null || !p.wilson) return 'n/a';
  const f = (x: number) => (100 * x).toFixed(1);
  return `${f(p.estimate)}% (${f(p.wilson[0])}–${f(p.wilson[1])})`;
}

/** "0.916 (0.884–0.948)" for an AUC with its DeLong interval. */
export function aucCi(m: EvaluationReport | null): string {
  if (!m?.auc) return 'n/a';
  const d = m.auc.delong;
  return d ? `${m.auc.value.toFixed(3)} (${d.lower.toFixed(3)}–${d.upper.toFixed(3)})` : m.auc.value.toFixed(3);
}

/** Per-threshold table (the paper's Tables 2–5) as Markdown. */
export function thresholdTable(m: EvaluationReport): string {
  const lines = ['| threshold | sensitivity (95% CI) | specificity (95% CI) | TP | FN | TN | FP |', '|---:|---|---|---:|---:|---:|---:|'];
  for (const t of m.atThresholds) {
    const c = t.confusion;
    lines.push(`| ${t.threshold} | ${pctCi(t.sensitivity)} | ${pctCi(t.specificity)} | ${c.tp} | ${c.fn} | ${c.tn} | ${c.fp} |`);
  }
  return lines.join('\n');
}

/** The share of COVID images in an evaluated set (metrics.json of older runs lacks `setPrevalence`). */
export function setPrevalenceOf(m: EvaluationReport): number {
  return m.setPrevalence ?? m.positives / m.n;
}

/** The sentence every report and page gives with P(COVID): what it is calibrated to, and what is not. */
export function calibrationSentence(setPrevalence: number): string {
  return `P(COVID) is calibrated to the test set's class mix (${(100 * setPrevalence).toFixed(0)}% COVID), not to the prevalence of any clinic: at a lower prevalence a positive call is far less likely to be COVID. PPV and NPV at a given prevalence follow from the sensitivity and specificity at the operating threshold.`;
}

/**
 * PPV and NPV at the operating threshold for several prevalences as Markdown (1%, 5%, 10%, the
 * set's own and `extra`), with their intervals and how they are made; '' when a class is missing.
 */
export function predictiveValuesTable(m: EvaluationReport, extra: readonly number[] = []): string {
  const own = setPrevalenceOf(m);
  let rows: PredictiveValuesAt[] | null | undefined = m.predictiveValues;
  const c = m.operatingPoint.confusion;
  if (c.tp + c.fn === 0 || c.tn + c.fp === 0) return '';
  const want = [...REPORT_PREVALENCES, own, ...extra];
  if (!rows || want.some((p) => !rows!.some((r) => Math.abs(r.prevalence - p) < 1e-12))) rows = predictiveValueTable(c, want, m.conventions.level);
  const level = Math.round(100 * m.conventions.level);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const cell = (v: PredictiveValuesAt['ppv']) => (v ? `${pct(v.estimate)} (${pct(v.interval[0])}–${pct(v.interval[1])})` : 'n/a');
  const lines = [`| prevalence | PPV (${level}% CI) | NPV (${level}% CI) |`, '|---:|---|---|'];
  for (const r of rows) lines.push(`| ${pct(r.prevalence)}${Math.abs(r.prevalence - own) < 1e-12 ? ' (this set)' : ''} | ${cell(r.ppv)} | ${cell(r.npv)} |`);
  lines.push('', `At threshold ${m.operatingPoint.threshold.toFixed(4)}. ${PREDICTIVE_VALUE_METHOD[0].toUpperCase()}${PREDICTIVE_VALUE_METHOD.slice(1)}.`);
  return lines.join('\n');
}

/** A weights warning for reports, or ''. */
export function weightsNote(r: RunRecord): string {
  if (r.backbone.weights === 'synthetic') return `**Synthetic weights**: ${r.backbone.file} has no trained ImageNet weights; these numbers only show that the pipeline runs and mean nothing.`;
  if (r.backbone.weights === 'unknown') return `Model file ${r.backbone.file} is not in deep-covid's registry; its weights' provenance is unknown.`;
  return '';
}

/** The run's robustness options in words ('' for the paper's recipe, or a record from before they existed). */
export function robustnessNote(r: RunRecord): string {
  const c = r.config;
  const parts: string[] = [];
  if (c.greyLevels && c.greyLevels !== 'none') parts.push(`grey levels ${c.greyLevels}`);
  if (c.borderCrop) parts.push(`border crop ${(100 * c.borderCrop).toFixed(0)}% per edge`);
  if (c.lungField) parts.push('lung fields only');
  if (c.acquisitionAugment) parts.push('acquisition augmentation (both classes)');
  if (c.sampling && c.sampling !== 'shuffle') parts.push(`${c.sampling}-balanced sampling`);
  if (c.sourceNull) parts.push(`source nulling (${c.sourceNull} rounds${r.training.sourceNull ? `, ${r.training.sourceNull.directions} directions` : ''})`);
  return parts.join(', ');
}

/** The run's summary.md: what was run, on what, and what came out, with intervals. */
export function runSummaryMarkdown(r: RunRecord, m: EvaluationReport | null): string {
  const c = r.data.counts;
  const out: string[] = [];
  out.push(`# deep-covid run ${r.id}`, '');
  out.push('Research software, not a diagnostic device. Numbers below describe this test set only.', '');
  const w = weightsNote(r);
  if (w) out.push(w, '');
  out.push('## Setup', '');
  out.push(`- Backbone: ${r.backbone.name} (${r.backbone.weights} weights; ${r.backbone.note}), frozen; head: ${r.backbone.manifest.head.kind}, dropout ${r.backbone.manifest.head.dropout}`);
  out.push(`- Protocol: Adam lr ${r.config.lr}, batch ${r.config.batchSize}, ${r.config.epochs} epochs, seed ${r.config.seed}, COVID augmentation x${r.config.augmentFactor}${r.config.classWeighting ? ', class-weighted loss' : ''}`);
  const robust = robustnessNote(r);
  if (robust) out.push(`- Robustness options: ${robust}`);
  out.push(`- Data: ${mdCode(r.data.root)} (${r.data.origin}); train ${c.train.n} images (${c.train.covid} COVID; ${c.trainAugmented.n} after augmentation), validation ${c.val.n} (${c.val.covid} COVID, split by ${r.data.validationBy}), test ${c.test ? `${c.test.n} (${c.test.covid} COVID)` : 'none'}`);
  out.push(`- Best epoch ${r.training.bestEpoch} of ${r.training.epochs} (lowest validation loss ${r.training.bestValLoss.toFixed(4)})`);
  out.push(`- Operating threshold ${r.threshold.value.toFixed(4)}: chosen on validation for sensitivity ≥ ${(100 * r.threshold.targetSensitivity).toFixed(0)}%${r.threshold.fallback ? ' (fallback 0.5: validation had no COVID images)' : ''}`);
  if (r.data.failures.length) out.push(`- ${r.data.failures.length} unreadable file(s) skipped: ${r.data.failures.map((f) => mdCode(f.file)).join(', ')}`);
  out.push('');
  if (m) {
    out.push('## Test results', '');
    out.push(`- AUC ${aucCi(m)} (DeLong 95% CI)${m.auc?.patientBootstrap ? `; patient-clustered bootstrap 95% CI ${m.auc.patientBootstrap.lower.toFixed(3)}–${m.auc.patientBootstrap.upper.toFixed(3)}` : ''}`);
    const op = m.operatingPoint;
    out.push(`- At the operating threshold ${op.threshold.toFixed(4)}: sensitivity ${pctCi(op.sensitivity)}, specificity ${pctCi(op.specificity)} (Wilson 95% CIs); TP ${op.confusion.tp}, FN ${op.confusion.fn}, TN ${op.confusion.tn}, FP ${op.confusion.fp}`);
    if (m.optimisticThreshold) {
      const o = m.optimisticThreshold;
      out.push(`- Optimistic (threshold fitted on the test set, as the paper reports): threshold ${o.threshold.toFixed(4)} gives sensitivity ${pctCi(o.metrics.sensitivity)}, specificity ${pctCi(o.metrics.specificity)}`);
    }
    out.push(`- Calibration: Brier ${m.calibration.brier.toFixed(4)}, ECE ${m.calibration.ece.toFixed(4)}`, '');
    out.push('### Sensitivity and specificity by threshold', '', thresholdTable(m), '');
    if (m.bySource) {
      out.push('### By source', '', '| source | n | COVID | AUC | sensitivity | specificity |', '|---|---:|---:|---|---|---|');
      for (const [k, g] of Object.entries(m.bySource)) {
        out.push(`| ${mdText(k)} | ${g.n} | ${g.positives} | ${g.auc ? g.auc.value.toFixed(3) : 'n/a'} | ${pctCi(g.operatingPoint.sensitivity)} | ${pctCi(g.operatingPoint.specificity)} |`);
      }
      out.push('', 'A source that holds only one class cannot show whether the model detects disease or recognises the source; compare AUC within mixed sources.', '');
    }
  }
  return out.join('\n') + '\n';
}
