/**
 * The report of one run: results with intervals (paper Tables 2–5), the paper's figures for this
 * model (ROC, P(COVID) histograms, confusion matrix, sample images), sensitivity and specificity
 * against the threshold, calibration, per-source and per-view metrics, the training curve,
 * explanation panels when present, and the model card.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { aucCi, calibrationSentence, pctCi, predictiveValuesTable, setPrevalenceOf, thresholdTable, weightsNote } from '../protocol/run-files.js';
import { mdCode } from '../util/markdown-text.js';
import { confusionCells, lossPoints, probabilityHistogram, reliabilityPoints, rocPoints, sweepIntervals, thresholdSweep } from './chart-data.js';
import { confusionSpec, HISTOGRAM_AXIS_NOTE, histogramSpec, lossSpec, reliabilitySpec, rocSpec, sweepSpec } from './charts.js';
import { chartFigure, figureCollector, writeReport, type ReportDocument, type ReportWarn } from './document.js';
import { buildModelCard, modelCardHtml, modelCardMarkdown } from './model-card.js';
import { loadReportRun, type ReportRun } from './run-data.js';
import { FIG14_PANEL } from './run-explanations.js';
import { sampleGrid } from './sample-grid.js';
import { groupTable, operatingExtrasTable } from './tables.js';

/** Legend label of a model on ROC charts: name and AUC with its interval; synthetic weights said so. */
export function rocLabel(name: string, weights: string, metrics: ReportRun['metrics']): string {
  const synthetic = weights === 'synthetic' ? ' [synthetic weights]' : '';
  return `${name}${synthetic}: AUC ${aucCi(metrics)}`;
}

/** Builds the report of one loaded run (text and figures; nothing is written); chart warnings go to `warn`. */
export async function buildRunReport(run: ReportRun, warn?: ReportWarn): Promise<ReportDocument> {
  const r = run.record;
  const m = run.metrics;
  const thr = r.threshold.value;
  const md: string[] = [];
  const { figures, add: addFigure } = figureCollector(md);

  md.push(`# deep-covid report: run ${r.id}`, '');
  md.push(`**Research software, not a diagnostic device.** ${r.backbone.name} backbone (${r.backbone.weights} weights), trained ${r.createdAt} on ${mdCode(r.data.root)}. All numbers describe this test set only; intervals are 95% confidence intervals.`, '');
  const w = weightsNote(r);
  if (w) md.push(w, '');

  if (m) {
    const op = m.operatingPoint;
    md.push('## Results on the test set', '');
    md.push(`- ${m.n} test images (${m.positives} COVID, ${m.negatives} non-COVID)${m.patients ? ` from ${m.patients} patients` : ''}`);
    md.push(`- AUC ${aucCi(m)} (DeLong)${m.auc?.patientBootstrap ? `; patient-clustered bootstrap ${m.auc.patientBootstrap.lower.toFixed(3)}–${m.auc.patientBootstrap.upper.toFixed(3)}` : ''}`);
    md.push(`- Operating threshold ${thr.toFixed(4)} (chosen on validation for sensitivity ≥ ${(100 * r.threshold.targetSensitivity).toFixed(0)}%): sensitivity ${pctCi(op.sensitivity)}, specificity ${pctCi(op.specificity)} (Wilson)`);
    if (m.optimisticThreshold) {
      const o = m.optimisticThreshold;
      md.push(`- Optimistic, as the paper reports (threshold ${o.threshold.toFixed(4)} fitted on the test set itself): sensitivity ${pctCi(o.metrics.sensitivity)}, specificity ${pctCi(o.metrics.specificity)}`);
    }
    md.push(`- Calibration: Brier score ${m.calibration.brier.toFixed(4)}, ECE ${m.calibration.ece.toFixed(4)}`, '');

    if (m.roc) {
      md.push('### ROC curve', '');
      const point = { model: rocLabel(r.backbone.name, r.backbone.weights, run.metrics), fpr: 1 - (op.specificity.estimate ?? 0), tpr: op.sensitivity.estimate ?? 0 };
      addFigure(
        await chartFigure('roc', `ROC curve of ${r.backbone.name}`, rocSpec(rocPoints([{ label: point.model, roc: m.roc }]), [point], `ROC curve on the test set (${m.n} images)`), warn),
        `ROC curve on the test set (as paper Fig. 11); the diamond marks the operating threshold ${thr.toFixed(4)}, the dashed diagonal a random classifier.`,
      );
    }

    md.push('### Sensitivity and specificity by threshold (paper Tables 2–5)', '');
    md.push(thresholdTable(m), '');
    md.push(operatingExtrasTable(m), '');
    const pv = predictiveValuesTable(m, [op.prevalence]);
    if (pv) md.push('### PPV and NPV at a clinic\'s prevalence', '', calibrationSentence(setPrevalenceOf(m)), '', pv, '');
    if (m.roc) {
      addFigure(
        await chartFigure('threshold-sweep', 'Sensitivity and specificity against threshold', sweepSpec(thresholdSweep(m.roc), sweepIntervals(m.atThresholds), thr, 'Sensitivity and specificity against the threshold'), warn),
        'Sensitivity and specificity on the test set at every threshold; bars are Wilson 95% intervals at the table\'s thresholds; the dashed line is the operating threshold.',
      );
    }

    md.push('### Confusion matrix at the operating threshold (paper Figs. 5–6)', '');
    addFigure(
      await chartFigure('confusion', 'Confusion matrix', confusionSpec(confusionCells(op.confusion), `Confusion matrix at threshold ${thr.toFixed(4)}`), warn),
      `Test images by actual and predicted class at the operating threshold; percentages are shares of the actual class (row).`,
    );

    if (run.predictions.length) {
      md.push('### Predicted probabilities (paper Figs. 7–10)', '');
      addFigure(
        await chartFigure('histogram', 'Histogram of P(COVID) by class', histogramSpec(probabilityHistogram(run.predictions), thr, 'Distribution of P(COVID) on the test set'), warn),
        `Histograms of the predicted probability of COVID-19 for COVID and non-COVID test images ${HISTOGRAM_AXIS_NOTE}; the dashed line is the operating threshold.`,
      );
    }

    md.push('### Calibration', '');
    addFigure(
      await chartFigure('calibration', 'Reliability diagram', reliabilitySpec(reliabilityPoints(m.calibration), m.calibration.brier, m.calibration.ece, 'Reliability diagram (test set)'), warn),
      'Fraction of COVID images against mean predicted probability in 10 equal-width bins; point area shows the number of images; the diagonal is perfect calibration. The class balance of the test set is not that of any real population.',
    );

    if (m.bySource || m.byView) {
      md.push('### By source and by view', '');
      md.push('Metrics at the operating threshold within each group; a group holding one class has no AUC and shows either sensitivity or specificity only.', '');
      if (m.bySource) md.push(groupTable('source', m.bySource), '');
      if (m.byView) md.push(groupTable('view', m.byView), '');
    }

    if (run.predictions.length) {
      const grid = await sampleGrid(run.predictions, thr, r.data.root);
      md.push('### Sample test images (paper Fig. 2)', '');
      if (grid) {
        addFigure(
          { name: 'samples', alt: 'Sample test images with their probabilities', svg: null, png: grid.png },
          `Test images at evenly spaced ranks of P(COVID) within each class, lowest on the left. Green frame: called correctly at threshold ${thr.toFixed(4)}; red: wrong.${grid.unreadable.length ? ` ${grid.unreadable.length} image(s) could not be read.` : ''}`,
        );
      } else md.push(`The test images could not be read from ${mdCode(r.data.root)} (moved or not available here), so no sample grid is shown.`, '');
    }
  } else {
    md.push('## Results on the test set', '', 'This run has no test results (metrics.json is missing: the data had no test split).', '');
  }

  if (run.explanations.length) {
    md.push('### Explanations', '');
    for (const e of run.explanations) {
      const name = `explanation-${e.name.replace(/\.png$/i, '').replace(/[^A-Za-z0-9._-]+/g, '_')}`;
      const caption = e.name === FIG14_PANEL
        ? `Class activation maps of COVID test images at evenly spaced ranks of P(COVID), as the paper's Fig. 14: the grey crop the model saw, the map, and the overlay. All rows share one fixed colour scale (colour bar); the map shows where the model looked, not where disease is.`
        : `Explanation panel ${mdCode(e.name)} from the run's explanations folder.`;
      addFigure({ name, alt: `Explanation ${e.name}`, svg: null, png: e.png }, caption);
    }
  }

  md.push('## Training', '');
  md.push(`${r.training.epochs} epochs; the head of epoch ${r.training.bestEpoch} (lowest validation loss, ${r.training.bestValLoss.toFixed(4)}) is the model evaluated above.`, '');
  if (run.history.length) {
    addFigure(
      await chartFigure('training', 'Training curve', lossSpec(lossPoints(run.history), r.training.bestEpoch, 'Training and validation loss'), warn),
      `Mean cross-entropy per epoch on the (augmented) training set and on the validation set; the dashed line marks the kept epoch.`,
    );
  }

  md.push(modelCardMarkdown(buildModelCard(run)));
  return { title: `deep-covid report: run ${r.id}`, markdown: md.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n', figures };
}

/** Builds and writes the report of a run folder; default output folder <run>/report. Chart warnings go to `opts.warn`. */
export async function writeRunReport(runDir: string, outDir?: string, opts: { warn?: ReportWarn } = {}): Promise<{ out: string; files: string[] }> {
  const run = await loadReportRun(runDir);
  const out = outDir ?? join(run.dir, 'report');
  const files = await writeReport(out, await buildRunReport(run, opts.warn));
  // the model card on its own too, as data and as a page (the same texts as the report's card)
  const card = buildModelCard(run);
  for (const [name, text] of [['model-card.json', JSON.stringify(card, null, 1) + '\n'], ['model-card.html', modelCardHtml(card)]] as const) {
    await writeFileAtomic(join(out, name), text);
    files.push(join(out, name));
  }
  return { out, files };
}
