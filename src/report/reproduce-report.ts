/**
 * The report of a `reproduce` output folder. It answers "did we reproduce the paper?" first: the
 * paper's Table 6 beside ours and why they differ, with a link to every model's own run report;
 * then all ROC curves on one chart (paper Fig. 11), per model Tables 2–5, the confusion matrix
 * (Figs. 5–6), the P(COVID) histograms (Figs. 7–10) and per-source metrics, then the intended use
 * and the source hazards of every model.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { RunError } from '../errors.js';
import type { EvaluationReport } from '../evaluate/index.js';
import { readEnsembleDir } from '../protocol/ensemble.js';
import { aucCi, pctCi, thresholdTable, weightsNote } from '../protocol/run-files.js';
import { RUN_FILES } from '../protocol/run-folder.js';
import { mdCode, mdText } from '../util/markdown-text.js';
import { confusionCells, probabilityHistogram, rocPoints } from './chart-data.js';
import { confusionSpec, HISTOGRAM_AXIS_NOTE, histogramSpec, rocSpec, type RocMarker } from './charts.js';
import { chartFigure, figureCollector, writeReport, type ReportDocument, type ReportWarn } from './document.js';
import { AUC_GAP, findHazards, MIN_PER_CLASS } from './model-card.js';
import { loadReportRun, parsePredictions, type PredictionRow, type ReportRun } from './run-data.js';
import { writeFig14Panel } from './run-explanations.js';
import { rocLabel, writeRunReport } from './run-report.js';
import { groupAucCi, groupTable } from './tables.js';

/** The ensemble of a reproduce folder: not a run (no run.json), but scored on the same test set. */
export interface ReportEnsemble {
  dir: string;
  /** Member backbones and their folders (siblings of the ensemble folder in a reproduce folder). */
  members: { backbone: string; folder: string }[];
  combine: 'probability' | 'logit';
  threshold: number;
  /** 'imagenet' when every member has ImageNet weights. */
  weights: string;
  metrics: EvaluationReport | null;
  predictions: PredictionRow[];
}

/** A model of a reproduce folder: its loaded run, the ensemble of its runs, or why it was skipped. */
export type ReproduceModel = { backbone: string; run: ReportRun } | { backbone: string; ensemble: ReportEnsemble } | { backbone: string; skipped: string };

async function loadReportEnsemble(dir: string): Promise<ReportEnsemble> {
  const e = await readEnsembleDir(dir);
  const predFile = join(e.dir, RUN_FILES.predictions);
  const predText = await readFile(predFile, 'utf8').catch(() => null);
  return {
    dir: e.dir,
    members: e.record.members.map((m) => ({ backbone: m.backbone, folder: basename(m.dir) })),
    combine: e.record.combine,
    threshold: e.record.threshold.value,
    weights: e.members.every((m) => m.record.backbone.weights === 'imagenet') ? 'imagenet' : 'mixed',
    metrics: e.metrics,
    predictions: predText ? parsePredictions(predText, predFile) : [],
  };
}

/**
 * Loads the models of a reproduce folder in the order of comparison.json (skipped backbones
 * included), or, without it, every sub-folder holding a run.json in name order.
 */
export async function loadReproduceFolder(dir: string): Promise<ReproduceModel[]> {
  const abs = resolve(dir);
  const text = await readFile(join(abs, 'comparison.json'), 'utf8').catch(() => null);
  let names: { backbone: string; skipped?: string; ensemble?: boolean }[];
  if (text !== null) {
    try {
      names = (JSON.parse(text) as { backbone: string; skipped?: string; ensemble?: boolean }[]).map((e) => ({ backbone: e.backbone, skipped: e.skipped, ensemble: e.ensemble === true }));
    } catch (err) {
      throw new RunError(`${join(abs, 'comparison.json')} is not valid JSON: re-run deep-covid reproduce`, { cause: err });
    }
  } else {
    const entries = await readdir(abs, { withFileTypes: true }).catch(() => {
      throw new RunError(`${abs} does not exist or is not a folder: pass the output folder of deep-covid reproduce`);
    });
    names = [];
    for (const e of entries.filter((x) => x.isDirectory()).map((x) => x.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (await stat(join(abs, e, RUN_FILES.record)).then(() => true, () => false)) names.push({ backbone: e });
    }
  }
  if (!names.some((n) => n.skipped === undefined)) throw new RunError(`${abs} holds no trained runs (no <backbone>/run.json and no comparison.json): pass the output folder of deep-covid reproduce`);
  const out: ReproduceModel[] = [];
  for (const n of names) {
    if (n.skipped !== undefined) out.push({ backbone: n.backbone, skipped: n.skipped });
    else if (n.ensemble) out.push({ backbone: n.backbone, ensemble: await loadReportEnsemble(join(abs, n.backbone)) });
    else out.push({ backbone: n.backbone, run: await loadReportRun(join(abs, n.backbone)) });
  }
  return out;
}

/** The paper's Table 6 (Minaee et al. 2020): sensitivity and specificity in %, with the ± the paper gives (null where it gives none). */
export const PAPER_TABLE6: Readonly<Record<string, { label: string; sensitivity: [number, number | null]; specificity: [number, number | null] }>> = Object.freeze({
  resnet18: { label: 'ResNet18', sensitivity: [98, 2.7], specificity: [90.7, 1.1] },
  resnet50: { label: 'ResNet50', sensitivity: [98, null], specificity: [89.6, 1.1] },
  squeezenet1_1: { label: 'SqueezeNet', sensitivity: [98, null], specificity: [92.9, 0.9] },
  densenet121: { label: 'DenseNet-121', sensitivity: [98, null], specificity: [75.1, 1.5] },
});

/** What the report needs of every scored model, run or ensemble alike. */
interface Scored {
  /** The folder's name (a backbone, or "ensemble"): file names and legends. */
  name: string;
  /** What tables and headings call it (the ensemble says what it combines). */
  backbone: string;
  weights: string;
  threshold: number;
  metrics: EvaluationReport | null;
  predictions: PredictionRow[];
  /** Markdown link(s) to the model's own report(s). */
  reportLinks: string;
  /** The run, for the facts only a run records (data counts, validation split); null for the ensemble. */
  run: ReportRun | null;
}

const COMBINE_WORDS = { probability: 'mean probability', logit: 'mean log-odds' } as const;

function scored(m: ReproduceModel): Scored | null {
  if ('run' in m) {
    const r = m.run;
    return { name: m.backbone, backbone: m.backbone, weights: r.record.backbone.weights, threshold: r.record.threshold.value, metrics: r.metrics, predictions: r.predictions, reportLinks: `[${m.backbone} report](${runReportLink(m.backbone)})`, run: r };
  }
  if ('ensemble' in m) {
    const e = m.ensemble;
    return {
      name: m.backbone,
      backbone: `${m.backbone} (${e.members.map((x) => x.backbone).join(' + ')}; ${COMBINE_WORDS[e.combine]}, chosen on validation)`,
      weights: e.weights,
      threshold: e.threshold,
      metrics: e.metrics,
      predictions: e.predictions,
      reportLinks: `members: ${e.members.map((x) => `[${x.backbone}](${runReportLink(x.folder)})`).join(', ')}`,
      run: null,
    };
  }
  return null;
}


function paperCell([v, pm]: [number, number | null]): string {
  return `${v}%${pm !== null ? ` ± ${pm}%` : ''}`;
}

function range(xs: number[]): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  const f = (x: number) => (100 * x).toFixed(0);
  return f(lo) === f(hi) ? `${f(lo)}%` : `${f(lo)}–${f(hi)}%`;
}

/** Where a model's run report lies, relative to the reproduce report's folder (<dir>/report). */
export function runReportLink(backbone: string): string {
  return `../${encodeURIComponent(backbone)}/report/report.html`;
}

/**
 * "Did we reproduce the paper?": the paper's Table 6 beside ours at the same 98% sensitivity
 * (threshold fitted on the test set, as the paper did) and at the validation-chosen threshold,
 * with the reasons they differ in plain words. Every number of ours is read from the runs.
 */
function paperSection(models: Scored[]): string[] {
  const md: string[] = ['## Did we reproduce the paper? (Table 6)', ''];
  const withM = models.filter((x) => x.metrics);
  const real = withM.filter((x) => x.weights === 'imagenet');
  // an ensemble mixing real and synthetic weights is neither (reproduce only combines real ones)
  const fake = withM.filter((x) => x.weights !== 'imagenet' && x.run);
  const firstRun = withM.find((x) => x.run)?.run ?? null;
  const target = withM[0]?.metrics?.optimisticThreshold?.targetSensitivity ?? firstRun?.record.threshold.targetSensitivity ?? 0.98;
  const specAtTarget = (x: Scored) => x.metrics!.optimisticThreshold?.metrics.specificity.estimate ?? null;
  const paperSpecs = Object.values(PAPER_TABLE6).map((p) => p.specificity[0]);
  const realSpecs = real.map(specAtTarget).filter((v): v is number => v !== null);
  const fakeSpecs = fake.map(specAtTarget).filter((v): v is number => v !== null);
  const answer: string[] = [];
  answer.push(`The paper reports a sensitivity of 98% with specificities of ${Math.min(...paperSpecs)}–${Math.max(...paperSpecs)}% for its four backbones (Table 6).`);
  if (realSpecs.length) {
    const worse = real.filter((x) => {
      const p = PAPER_TABLE6[x.backbone];
      const o = x.metrics!.optimisticThreshold?.metrics.specificity;
      return p && o?.wilson && o.wilson[1] * 100 < p.specificity[0];
    });
    const valSens = real.map((x) => x.metrics!.operatingPoint.sensitivity.estimate).filter((v): v is number => v !== null);
    const valSpecs = real.map((x) => x.metrics!.operatingPoint.specificity.estimate).filter((v): v is number => v !== null);
    answer.push(`At the same ${(100 * target).toFixed(0)}% sensitivity, with the threshold fitted on the test set as the paper did, our models with ImageNet weights reach a specificity of ${range(realSpecs)} (${real.map((x) => x.backbone).join(', ')}); at the threshold chosen on validation, which is what a new patient would get, their sensitivity is ${range(valSens)} and their specificity ${range(valSpecs)}.`);
    if (worse.length) answer.push(`**So no: ${worse.map((x) => x.backbone).join(' and ')} ${worse.length > 1 ? 'are' : 'is'} clearly below the paper's specificity** (the paper's figure lies above our 95% interval).`);
    else answer.push('Within our 95% intervals this matches the paper where the paper has the same backbone.');
  } else {
    answer.push('None of the runs here has ImageNet weights, so none of our numbers can be compared with the paper.');
  }
  if (fakeSpecs.length) answer.push(`The ${fake.map((x) => x.backbone).join(', ')} runs use synthetic weights (no ImageNet weights could be had here): their specificity of ${range(fakeSpecs)} only shows that the pipeline runs.`);
  md.push(answer.join(' '), '');

  md.push(`| model | weights | paper: sensitivity | paper: specificity | ours: sensitivity | ours: specificity (95% CI) | threshold (fitted on test) |`);
  md.push('|---|---|---:|---:|---|---|---:|');
  for (const x of withM) {
    const p = PAPER_TABLE6[x.backbone];
    const o = x.metrics!.optimisticThreshold;
    md.push(`| ${x.backbone} | ${x.weights} | ${p ? paperCell(p.sensitivity) : 'not in the paper'} | ${p ? paperCell(p.specificity) : ''} | ${o ? pctCi(o.metrics.sensitivity) : 'n/a'} | ${o ? pctCi(o.metrics.specificity) : 'n/a'} | ${o ? o.threshold.toFixed(4) : 'n/a'} |`);
  }
  md.push('');
  md.push('What a new patient would see is the threshold chosen **on the validation split** (the test set plays no part in the choice):', '');
  md.push('| model | threshold (validation) | sensitivity (95% CI) | specificity (95% CI) | test AUC (95% CI) | run report |');
  md.push('|---|---:|---|---|---|---|');
  for (const x of withM) {
    const m = x.metrics!;
    md.push(`| ${x.backbone} | ${x.threshold.toFixed(4)} | ${pctCi(m.operatingPoint.sensitivity)} | ${pctCi(m.operatingPoint.specificity)} | ${aucCi(m)} | ${x.reportLinks} |`);
  }
  md.push('');

  const first = firstRun;
  const c = first?.record.data.counts;
  md.push('### Why our numbers differ', '');
  if (c?.test) md.push(`- **Different data.** The paper tested on COVID-Xray-5k (100 COVID and 3,000 non-COVID images). This run used ${mdCode(first!.record.data.root)}: ${c.train.n} training images (${c.train.covid} COVID), ${c.val.n} validation and ${c.test.n} test images (${c.test.covid} COVID), drawn from other collections; see the per-source tables below.`);
  md.push(`- **Patient-disjoint split.** ${first?.record.data.validationBy === 'patient' ? 'Our validation split is held out by patient, and `deep-covid dataset build` splits training and test by patient (`deep-covid dataset check` verifies any data set)' : 'This data set has no patient ids, so our splits are by image too'}; the paper split images, so one patient's films could sit in both training and test, which makes the test easier.`);
  md.push('- **Threshold chosen on validation.** The paper picked its threshold on the test set itself (the first table above does the same for comparison); our operating threshold is chosen on the validation split, so its test results are what a new patient would see, and they are lower.');
  md.push(`- **A few images decide the 98% point.** With ${c?.test?.covid ?? 'few'} COVID test images, ${(100 * target).toFixed(0)}% sensitivity means missing at most ${c?.test ? Math.floor(c.test.covid * (1 - target) + 1e-9) : 'one or two'}; the threshold then sits at the hardest COVID images and the specificity there swings widely (see the intervals).`);
  md.push('- **Source shortcuts.** In public COVID-19 collections the classes come from different sources, so part of any AUC here may come from recognising the source (see "Intended use and known hazards" below).');
  if (fake.length) md.push(`- **Synthetic weights.** ${fake.map((x) => x.backbone).join(', ')} ran without ImageNet weights; their rows mean nothing.`);
  md.push('');
  return md;
}

function hazardSection(models: Scored[]): string[] {
  const md: string[] = ['## Intended use and known hazards', ''];
  const runs = models.filter((x) => x.run);
  md.push(`**Research software, not a diagnostic device.** These models must not be used to diagnose, triage or rule out COVID-19 in anyone. Each model's own report holds its full model card: ${runs.map((x) => `[${x.backbone}](${runReportLink(x.backbone)})`).join(', ')}.`, '');
  const withMetrics = models.filter((x) => x.metrics);
  const first = withMetrics[0]?.metrics;
  if (!first?.bySource) {
    md.push('The test predictions carry no source information, so source shortcuts cannot be checked.', '');
    return md;
  }
  const h = findHazards(first);
  if (h.singleClassSources.length) {
    md.push(`- **Source shortcut.** ${(100 * h.singleClassShare).toFixed(0)}% of the test images come from sources holding only one class (${h.singleClassSources.map((s) => `${mdText(s.source)}: ${s.n} images, all ${s.cls}`).join('; ')}). A model can score well on them by recognising the source rather than disease.`);
  }
  if (h.mixedSources.length) {
    md.push(`- Within the sources that hold both classes the models separate COVID from non-COVID as follows; an AUC more than ${AUC_GAP} below the model's overall AUC (with at least ${MIN_PER_CLASS} images of each class) is marked ⚠.`, '');
    md.push(`| model | overall AUC | ${h.mixedSources.map((s) => `AUC within ${mdText(s)}`).join(' | ')} |`);
    md.push(`|---|---|${h.mixedSources.map(() => '---').join('|')}|`);
    for (const { backbone, metrics } of withMetrics) {
      const m = metrics!;
      const cells = h.mixedSources.map((s) => {
        const g = m.bySource?.[s];
        if (!g?.auc) return 'n/a';
        const weak = m.auc && g.positives >= MIN_PER_CLASS && g.negatives >= MIN_PER_CLASS && g.auc.value < m.auc.value - AUC_GAP;
        return `${groupAucCi(g)}${weak ? ' ⚠' : ''}`;
      });
      md.push(`| ${backbone} | ${aucCi(m)} | ${cells.join(' | ')} |`);
    }
  }
  md.push('');
  return md;
}

/** Builds the report of a reproduce folder (text and figures; nothing is written); chart warnings go to `warn`. */
export async function buildReproduceReport(dir: string, models: ReproduceModel[], warn?: ReportWarn): Promise<ReportDocument> {
  const all = models.map(scored).filter((x): x is Scored => x !== null);
  const data = all.find((x) => x.run)!.run!.record.data.root;
  const md: string[] = [];
  const { figures, add: addFigure } = figureCollector(md);
  md.push('# Deep-COVID reproduction', '');
  md.push(`Data: ${mdCode(resolve(data))}. Research software, not a diagnostic device: these numbers describe this test set only.`, '');
  const skipped = models.filter((x): x is { backbone: string; skipped: string } => 'skipped' in x);
  if (skipped.length) md.push(...skipped.map((x) => `- ${x.backbone}: skipped (${mdText(x.skipped)})`), '');
  md.push(...paperSection(all));

  const withRoc = all.filter((x) => x.metrics?.roc);
  if (withRoc.length) {
    md.push('## ROC curves of all models (paper Fig. 11)', '');
    const curves = withRoc.map((x) => ({ label: rocLabel(x.name, x.weights, x.metrics), roc: x.metrics!.roc! }));
    const markers: RocMarker[] = withRoc.map((x, i) => {
      const op = x.metrics!.operatingPoint;
      return { model: curves[i].label, fpr: 1 - (op.specificity.estimate ?? 0), tpr: op.sensitivity.estimate ?? 0 };
    });
    addFigure(
      await chartFigure('roc-all', 'ROC curves of all models', rocSpec(rocPoints(curves), markers, 'ROC curves on the test set'), warn),
      'ROC curves of every model on the same test set, AUC with DeLong 95% CI in the legend; diamonds mark each model\'s validation-chosen operating threshold.',
    );
  }

  for (const x of all) {
    const { backbone, metrics: m, run } = x;
    if (!m) continue;
    const op = m.operatingPoint;
    const thr = x.threshold;
    md.push(`## ${backbone}`, '');
    const w = run ? weightsNote(run.record) : '';
    if (w) md.push(w, '');
    md.push(`AUC ${aucCi(m)}; at threshold ${thr.toFixed(4)}: sensitivity ${pctCi(op.sensitivity)}, specificity ${pctCi(op.specificity)}. ${run ? `Full report with calibration, training curve, sample images and model card: ${x.reportLinks}.` : `Its members' reports: ${x.reportLinks.replace(/^members: /, '')}.`}`, '');
    md.push(`### ${backbone}: sensitivity and specificity by threshold (paper Tables 2–5)`, '');
    md.push(thresholdTable(m), '');
    const safe = x.name.replace(/[^A-Za-z0-9._-]+/g, '_');
    addFigure(
      await chartFigure(`${safe}-confusion`, `Confusion matrix of ${backbone}`, confusionSpec(confusionCells(op.confusion), `${backbone}: confusion matrix at threshold ${thr.toFixed(4)}`), warn),
      `${backbone}: test images by actual and predicted class at the operating threshold (paper Figs. 5–6); percentages are shares of the actual class.`,
    );
    if (x.predictions.length) {
      addFigure(
        await chartFigure(`${safe}-histogram`, `Histogram of P(COVID) for ${backbone}`, histogramSpec(probabilityHistogram(x.predictions), thr, `${backbone}: distribution of P(COVID)`), warn),
        `${backbone}: predicted probability of COVID-19 for COVID and non-COVID test images (paper Figs. 7–10) ${HISTOGRAM_AXIS_NOTE}; dashed line: operating threshold.`,
      );
    }
    if (m.bySource) md.push(groupTable('source', m.bySource), '');
  }
  md.push(...hazardSection(all));
  return { title: 'Deep-COVID reproduction report', markdown: md.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n', figures };
}

/**
 * Writes each trained model's run report when it has none yet (so the reproduce report's links
 * work; with CAM heatmaps as the paper's Fig. 14 when the backbone file and test images are
 * here), then the reproduce report itself; default output folder <dir>/report. `notes` says what
 * could not be added.
 */
export async function writeReproduceReport(dir: string, outDir?: string, opts: { warn?: ReportWarn } = {}): Promise<{ out: string; files: string[]; runReports: string[]; notes: string[] }> {
  const models = await loadReproduceFolder(dir);
  const runReports: string[] = [];
  const notes: string[] = [];
  for (const x of models) {
    if (!('run' in x)) continue;
    const html = join(x.run.dir, 'report', 'report.html');
    if (!(await stat(html).then(() => true, () => false))) {
      // heatmaps as the paper's Fig. 14, unless the run already has explanations
      if (!x.run.explanations.length) {
        const why = await writeFig14Panel(x.run);
        if (why) notes.push(`${x.backbone}: no heatmaps in its report (${why})`);
      }
      await writeRunReport(x.run.dir, undefined, opts);
    }
    runReports.push(html);
  }
  const out = outDir ?? join(resolve(dir), 'report');
  const files = await writeReport(out, await buildReproduceReport(dir, models, opts.warn));
  return { out, files, runReports, notes };
}
