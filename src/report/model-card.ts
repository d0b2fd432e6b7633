/**
 * The model card of a run, loosely following the CLAIM checklist and TRIPOD+AI headings: model
 * details, intended use, data, operating threshold, results with intervals, known hazards (source
 * shortcuts found from the per-source metrics), the shortcut check when one was run, limitations.
 */
import type { EvaluationReport } from '../evaluate/index.js';
import { aucCi, pctCi, weightsNote } from '../protocol/run-files.js';
import { shortcutCheckMarkdown } from './shortcut-section.js';
import type { RunRecord } from '../protocol/run-folder.js';
import { mdCode, mdText } from '../util/markdown-text.js';
import type { ReportRun } from './run-data.js';
import { groupAucCi } from './tables.js';

/** A group AUC this much below the overall AUC is reported as a hazard. */
export const AUC_GAP = 0.1;

/** Groups with fewer images of either class than this are too noisy to call a hazard. */
export const MIN_PER_CLASS = 5;

/** A source whose test images are all of one class. */
export interface SingleClassSource {
  source: string;
  n: number;
  cls: 'COVID' | 'non-COVID';
}

/** A source or view with both classes whose AUC is well below the overall AUC. */
export interface WeakGroup {
  kind: 'source' | 'view';
  name: string;
  n: number;
  positives: number;
  negatives: number;
  auc: string;
  value: number;
}

/** Hazards read off the test metrics. */
export interface Hazards {
  overallAuc: number | null;
  singleClassSources: SingleClassSource[];
  mixedSources: string[];
  weakGroups: WeakGroup[];
  /** Images of single-class sources, as a share of the test set. */
  singleClassShare: number;
}

/** Finds source shortcut hazards in a run's test metrics (see AUC_GAP). */
export function findHazards(m: EvaluationReport): Hazards {
  const single: SingleClassSource[] = [];
  const mixed: string[] = [];
  let singleN = 0;
  for (const [source, g] of Object.entries(m.bySource ?? {})) {
    if (g.positives === 0 || g.negatives === 0) {
      single.push({ source, n: g.n, cls: g.positives > 0 ? 'COVID' : 'non-COVID' });
      singleN += g.n;
    } else mixed.push(source);
  }
  const weak: WeakGroup[] = [];
  const overall = m.auc?.value ?? null;
  if (overall !== null) {
    for (const [kind, groups] of [['source', m.bySource], ['view', m.byView]] as const) {
      for (const [name, g] of Object.entries(groups ?? {})) {
        if (g.auc && g.positives >= MIN_PER_CLASS && g.negatives >= MIN_PER_CLASS && g.auc.value < overall - AUC_GAP) weak.push({ kind, name, n: g.n, positives: g.positives, negatives: g.negatives, auc: groupAucCi(g), value: g.auc.value });
      }
    }
  }
  return { overallAuc: overall, singleClassSources: single, mixedSources: mixed, weakGroups: weak, singleClassShare: m.n > 0 ? singleN / m.n : 0 };
}

function dataLines(r: RunRecord, m: EvaluationReport | null): string[] {
  const c = r.data.counts;
  const out = [
    `- Data folder: ${mdCode(r.data.root)} (${r.data.origin === 'manifest' ? 'manifest.csv with sources, patients and views' : 'class folders, no source or patient information'}); content hash \`${r.data.hash.slice(0, 16)}…\``,
    `- Training: ${c.train.n} images (${c.train.covid} COVID, ${c.train.n - c.train.covid} non-COVID); COVID images augmented ×${r.config.augmentFactor} to ${c.trainAugmented.n} training examples (${c.trainAugmented.covid} COVID)`,
    `- Validation (model selection and threshold): ${c.val.n} images (${c.val.covid} COVID), held out from the training split by ${r.data.validationBy}${r.data.validationBy === 'image' ? ' (the data had no patient ids, so a patient may be in both parts)' : ''}`,
    `- Test: ${c.test ? `${c.test.n} images (${c.test.covid} COVID, ${c.test.n - c.test.covid} non-COVID)${m?.patients ? ` from ${m.patients} patients` : ''}` : 'none (the run has no test split)'}`,
  ];
  if (r.data.failures.length) out.push(`- ${r.data.failures.length} unreadable image(s) skipped: ${r.data.failures.map((f) => mdCode(f.file)).join(', ')}`);
  if (m?.bySource) {
    out.push('', 'Test images by source (training images come from the same collections; run.json does not count them per source):', '', '| source | test images | COVID | non-COVID |', '|---|---:|---:|---:|');
    for (const [k, g] of Object.entries(m.bySource)) out.push(`| ${mdText(k)} | ${g.n} | ${g.positives} | ${g.negatives} |`);
  } else {
    out.push('', 'The test predictions carry no source information, so source shortcuts cannot be checked from this run.');
  }
  return out;
}

function hazardLines(h: Hazards, m: EvaluationReport): string[] {
  const out: string[] = [];
  if (h.singleClassSources.length) {
    const list = h.singleClassSources.map((s) => `${mdText(s.source)} (${s.n} images, all ${s.cls})`).join('; ');
    out.push(`- **Source shortcut.** ${(100 * h.singleClassShare).toFixed(0)}% of the test images come from sources that hold only one class: ${list}. On those images a model can be right by recognising the source (scanner, hospital, processing, text markers) instead of disease, and the overall AUC cannot tell the two apart.`);
  }
  const ws = h.weakGroups.filter((w) => w.kind === 'source');
  if (ws.length) {
    const list = ws.map((w) => `inside ${mdText(w.name)} (${w.positives} COVID, ${w.negatives} non-COVID test images) the AUC is ${w.auc}`).join('; ');
    out.push(`- **Within-source performance is much lower:** ${list}, against ${aucCi(m)} overall. Within one source the model separates COVID from non-COVID far less well, which is what to expect if the overall AUC rests partly on telling sources apart.`);
  }
  const wv = h.weakGroups.filter((w) => w.kind === 'view');
  if (wv.length) {
    out.push(`- **Weak on some views:** ${wv.map((w) => `${mdText(w.name)} AUC ${w.auc} (${w.positives} COVID, ${w.negatives} non-COVID)`).join('; ')}, against ${aucCi(m)} overall. View often goes with the patient's condition (supine AP films are taken of sicker patients), another possible shortcut.`);
  }
  if (!out.length && m.bySource) out.push(`- No single-class source and no source or view with an AUC more than ${AUC_GAP} below the overall AUC was found in the test set.`);
  out.push(`- Small groups: intervals of per-source and per-view results are wide; a group AUC is reported as a hazard when the group has at least ${MIN_PER_CLASS} images of each class and its AUC is more than ${AUC_GAP} below the overall AUC.`);
  return out;
}

/** The model card section of a run report (starts at heading level 2). */
export function modelCardMarkdown(run: ReportRun): string {
  const r = run.record;
  const m = run.metrics;
  const out: string[] = [];
  out.push('## Model card', '');
  out.push('Headings loosely follow CLAIM (Checklist for AI in Medical Imaging) and TRIPOD+AI.', '');

  out.push('### Model details', '');
  out.push(`- Name: deep-covid run \`${r.id}\`, created ${r.createdAt}`);
  out.push(`- Architecture: ${r.backbone.name} backbone (${r.backbone.weights} weights; ${r.backbone.note}), frozen; a new last layer (${r.backbone.manifest.head.kind}, dropout ${r.backbone.manifest.head.dropout}) trained on its features, as in Deep-COVID (Minaee et al. 2020)`);
  out.push(`- Input: one chest X-ray (PNG, JPEG, TIFF, WebP or DICOM), converted to grey, resized to the shorter side ${r.backbone.manifest.preprocess.resizeShorter} and centre-cropped to ${r.backbone.manifest.preprocess.crop.join('×')}; output: P(COVID-19) and a call at the operating threshold`);
  out.push(`- Training: Adam, learning rate ${r.config.lr}, batch ${r.config.batchSize}, ${r.config.epochs} epochs, seed ${r.config.seed}${r.config.classWeighting ? ', class-weighted loss' : ''}; the epoch with the lowest validation loss (${r.training.bestEpoch}) is kept`);
  out.push(`- Model file: \`${r.backbone.file}\` (sha256 \`${r.backbone.sha256.slice(0, 16)}…\`)`);
  const w = weightsNote(r);
  if (w) out.push('', w);
  out.push('');

  out.push('### Intended use', '');
  out.push('- **Research software, not a diagnostic device.** It has no regulatory clearance and must not be used to diagnose, triage, or rule out COVID-19 in any person, nor to guide treatment.');
  out.push('- Intended for: reproducing and scrutinising the Deep-COVID paper, teaching, and method research on public data sets.');
  out.push('- Out of scope: clinical use; populations, scanners or hospitals unlike the training collections; telling COVID-19 from other pneumonias (the non-COVID class here mixes normal and other findings).');
  out.push('');

  out.push('### Training and evaluation data', '');
  out.push(...dataLines(r, m), '');

  out.push('### Operating threshold', '');
  out.push(`The model calls an image COVID when P(COVID) ≥ ${r.threshold.value.toFixed(4)}. This threshold was chosen on the validation images only, as the highest threshold whose validation sensitivity is at least ${(100 * r.threshold.targetSensitivity).toFixed(0)}%${r.threshold.fallback ? '; validation had no COVID images, so the fallback 0.5 is used instead' : ''}. The test set played no part in choosing it.${m?.optimisticThreshold ? ` The paper instead fitted the threshold on the test set; that "optimistic" threshold (${m.optimisticThreshold.threshold.toFixed(4)} here) is reported for comparison only.` : ''}`, '');

  out.push('### Test results', '');
  if (m) {
    const op = m.operatingPoint;
    out.push(`- AUC ${aucCi(m)} (DeLong 95% CI)${m.auc?.patientBootstrap ? `; patient-clustered bootstrap 95% CI ${m.auc.patientBootstrap.lower.toFixed(3)}–${m.auc.patientBootstrap.upper.toFixed(3)}` : ''}`);
    out.push(`- At the operating threshold: sensitivity ${pctCi(op.sensitivity)}, specificity ${pctCi(op.specificity)} (Wilson 95% CIs); TP ${op.confusion.tp}, FN ${op.confusion.fn}, TN ${op.confusion.tn}, FP ${op.confusion.fp}`);
    out.push(`- Calibration: Brier score ${m.calibration.brier.toFixed(4)}, expected calibration error ${m.calibration.ece.toFixed(4)}`);
  } else out.push('- The run has no test results (no test split).');
  out.push('');

  out.push('### Known hazards', '');
  if (m) out.push(...hazardLines(findHazards(m), m));
  else out.push('- Without test results, source shortcuts could not be checked.');
  out.push('');

  out.push('### Shortcut check', '');
  out.push(...shortcutCheckMarkdown(run.shortcutCheck), '');

  out.push('### Limitations', '');
  out.push('- Public collections of COVID-19 X-rays are small, come from few sources, and often hold only one class per source; results on them overstate performance on new hospitals.');
  out.push('- Labels are those of the source collections (PCR-confirmed for some, reported for others); no radiologist re-read them for this run.');
  out.push(`- Test set of ${m ? m.n : 0} images: every number above carries sampling uncertainty shown by its interval; small per-source and per-view groups are especially uncertain.`);
  out.push('- Only the last layer is trained; the backbone keeps its ImageNet features, which were not made for radiographs.');
  out.push('- PPV and NPV depend on prevalence: they are stated at the prevalence given in the run settings (default: that of the test set), which is far above that of any screened population.');
  out.push('');

  out.push('### Reproducibility', '');
  out.push(`- Seed ${r.config.seed}; data hash \`${r.data.hash}\`; model sha256 \`${r.backbone.sha256}\``);
  out.push(`- Re-run: ${mdCode(`deep-covid train --data ${r.data.root} --backbone ${r.backbone.name} --seed ${r.config.seed} --epochs ${r.config.epochs} --out runs/${r.id}`)}`);
  out.push('');
  return out.join('\n');
}
