/**
 * The report of a `reproduce` output folder: the comparison tables of protocol/reproduce.ts
 * (paper Table 6 and Tables 2–5), all ROC curves on one chart (paper Fig. 11), and per model the
 * confusion matrix (Figs. 5–6), the P(COVID) histograms (Figs. 7–10) and per-source metrics, then
 * the intended use and the source hazards of every model.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { RunError } from '../errors.js';
import { comparisonMarkdown, type ReproduceEntry } from '../protocol/reproduce.js';
import { aucCi, pctCi } from '../protocol/run-files.js';
import { RUN_FILES } from '../protocol/run-folder.js';
import { mdText } from '../util/markdown-text.js';
import { confusionCells, probabilityHistogram, rocPoints } from './chart-data.js';
import { confusionSpec, histogramSpec, rocSpec, type RocMarker } from './charts.js';
import { chartFigure, figureCollector, writeReport, type ReportDocument } from './document.js';
import { AUC_GAP, findHazards, MIN_PER_CLASS } from './model-card.js';
import { loadReportRun, type ReportRun } from './run-data.js';
import { rocLabel } from './run-report.js';
import { groupAucCi, groupTable } from './tables.js';

/** A model of a reproduce folder: its loaded run, or why it was skipped. */
export type ReproduceModel = { backbone: string; run: ReportRun } | { backbone: string; skipped: string };

/**
 * Loads the models of a reproduce folder in the order of comparison.json (skipped backbones
 * included), or, without it, every sub-folder holding a run.json in name order.
 */
export async function loadReproduceFolder(dir: string): Promise<ReproduceModel[]> {
  const abs = resolve(dir);
  const text = await readFile(join(abs, 'comparison.json'), 'utf8').catch(() => null);
  let names: { backbone: string; skipped?: string }[];
  if (text !== null) {
    try {
      names = (JSON.parse(text) as { backbone: string; skipped?: string }[]).map((e) => ({ backbone: e.backbone, skipped: e.skipped }));
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
  for (const n of names) out.push(n.skipped !== undefined ? { backbone: n.backbone, skipped: n.skipped } : { backbone: n.backbone, run: await loadReportRun(join(abs, n.backbone)) });
  return out;
}

function hazardSection(runs: { backbone: string; run: ReportRun }[]): string[] {
  const md: string[] = ['## Intended use and known hazards', ''];
  md.push('**Research software, not a diagnostic device.** These models must not be used to diagnose, triage or rule out COVID-19 in anyone. Each model\'s own report (`deep-covid report --run <folder>/<backbone>`) holds its full model card.', '');
  const withMetrics = runs.filter((x) => x.run.metrics);
  const first = withMetrics[0]?.run.metrics;
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
    for (const { backbone, run } of withMetrics) {
      const m = run.metrics!;
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

/** Builds the report of a reproduce folder (text and figures; nothing is written). */
export async function buildReproduceReport(dir: string, models: ReproduceModel[]): Promise<ReportDocument> {
  const runs = models.filter((x): x is { backbone: string; run: ReportRun } => 'run' in x);
  const entries: ReproduceEntry[] = models.map((x) => ('run' in x ? { backbone: x.backbone, run: { dir: x.run.dir, record: x.run.record, metrics: x.run.metrics } } : x));
  const data = runs[0].run.record.data.root;
  const md: string[] = [];
  const { figures, add: addFigure } = figureCollector(md);
  md.push(comparisonMarkdown(data, entries));

  const withRoc = runs.filter((x) => x.run.metrics?.roc);
  if (withRoc.length) {
    md.push('## ROC curves of all models (paper Fig. 11)', '');
    const curves = withRoc.map((x) => ({ label: rocLabel(x.backbone, x.run), roc: x.run.metrics!.roc! }));
    const markers: RocMarker[] = withRoc.map((x, i) => {
      const op = x.run.metrics!.operatingPoint;
      return { model: curves[i].label, fpr: 1 - (op.specificity.estimate ?? 0), tpr: op.sensitivity.estimate ?? 0 };
    });
    addFigure(
      await chartFigure('roc-all', 'ROC curves of all models', rocSpec(rocPoints(curves), markers, 'ROC curves on the test set')),
      'ROC curves of every model on the same test set, AUC with DeLong 95% CI in the legend; diamonds mark each model\'s validation-chosen operating threshold.',
    );
  }

  for (const { backbone, run } of runs) {
    const m = run.metrics;
    if (!m) continue;
    const op = m.operatingPoint;
    const thr = run.record.threshold.value;
    md.push(`## ${backbone}`, '');
    md.push(`AUC ${aucCi(m)}; at threshold ${thr.toFixed(4)}: sensitivity ${pctCi(op.sensitivity)}, specificity ${pctCi(op.specificity)}. Full report: \`deep-covid report --run ${join(resolve(dir), backbone)}\`.`, '');
    const safe = backbone.replace(/[^A-Za-z0-9._-]+/g, '_');
    addFigure(
      await chartFigure(`${safe}-confusion`, `Confusion matrix of ${backbone}`, confusionSpec(confusionCells(op.confusion), `${backbone}: confusion matrix at threshold ${thr.toFixed(4)}`)),
      `${backbone}: test images by actual and predicted class at the operating threshold (paper Figs. 5–6); percentages are shares of the actual class.`,
    );
    if (run.predictions.length) {
      addFigure(
        await chartFigure(`${safe}-histogram`, `Histogram of P(COVID) for ${backbone}`, histogramSpec(probabilityHistogram(run.predictions), thr, `${backbone}: distribution of P(COVID)`)),
        `${backbone}: predicted probability of COVID-19 for COVID and non-COVID test images (paper Figs. 7–10); dashed line: operating threshold.`,
      );
    }
    if (m.bySource) md.push(groupTable('source', m.bySource), '');
  }
  md.push(...hazardSection(runs));
  return { title: 'Deep-COVID reproduction report', markdown: md.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n', figures };
}

/** Builds and writes the report of a reproduce folder; default output folder <dir>/report. */
export async function writeReproduceReport(dir: string, outDir?: string): Promise<{ out: string; files: string[] }> {
  const models = await loadReproduceFolder(dir);
  const out = outDir ?? join(resolve(dir), 'report');
  const files = await writeReport(out, await buildReproduceReport(dir, models));
  return { out, files };
}
