/**
 * The model card of a run, in one place: built once as data (`buildModelCard`, the JSON that
 * GET /api/model serves) and rendered from that data as Markdown (the run report's card section)
 * and HTML (a standalone page). Every text of the card (intended use, limitations, privacy,
 * hazards) is written here and nowhere else. Headings loosely follow the CLAIM checklist and
 * TRIPOD+AI: model details, intended use, data, operating threshold, results with intervals,
 * known hazards (source shortcuts found from the per-source metrics), the shortcut check,
 * limitations.
 */
import { basename } from 'node:path';
import type { EvaluationReport, Proportion, ThresholdMetrics } from '../evaluate/index.js';
import { aucCi, weightsNote } from '../protocol/run-files.js';
import type { RunRecord } from '../protocol/run-folder.js';
import type { ApiModelRef, ApiOperatingPoint, ApiProportion, CardHazard, ModelCard } from './card-types.js';
import { reportHtml } from './document.js';
import { shortcutCheckMarkdown } from './shortcut-section.js';
import { mdCode, mdText } from '../util/markdown-text.js';
import { groupAucCi } from './tables.js';

/** A group AUC this much below the overall AUC is reported as a hazard. */
export const AUC_GAP = 0.1;

/** Groups with fewer images of either class than this are too noisy to call a hazard. */
export const MIN_PER_CLASS = 5;

/** What the model is and is not for, in one sentence (shown first wherever the card appears). */
export const INTENDED_USE =
  'Research software, not a diagnostic device. For studying transfer learning on chest X-rays (the Deep-COVID protocol); ' +
  'not for screening, diagnosis, triage or any other clinical decision.';

const INTENDED_FOR = 'Reproducing and scrutinising the Deep-COVID paper, teaching, and method research on public data sets.';

const OUT_OF_SCOPE =
  'Clinical use of any kind (it has no regulatory clearance and must not be used to diagnose, triage or rule out COVID-19 in any person, nor to guide treatment); ' +
  'populations, scanners or hospitals unlike the training collections; telling COVID-19 from other pneumonias (the non-COVID class mixes normal and other findings).';

/** How images and uploads are handled. */
export const PRIVACY_NOTE =
  'Only view position, modality, patient age and sex are read from DICOM headers; no patient identifier is read or written anywhere. ' +
  'Uploads to the web page are kept in memory only for the time of the request and dropped after the answer; nothing is written to disk or logged.';

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

/** A Proportion in the API's shape (Wilson interval only). */
export function apiProportion(p: Proportion): ApiProportion {
  return { k: p.k, n: p.n, estimate: p.estimate, ci95: p.wilson ? [p.wilson[0], p.wilson[1]] : null };
}

/** Threshold metrics in the API's shape. */
export function apiOperatingPoint(m: ThresholdMetrics): ApiOperatingPoint {
  const c = m.confusion;
  return { threshold: m.threshold, sensitivity: apiProportion(m.sensitivity), specificity: apiProportion(m.specificity), confusion: { tp: c.tp, fn: c.fn, tn: c.tn, fp: c.fp } };
}

/** Which model and weights a run uses, with a warning when its numbers mean nothing. */
export function modelRef(r: RunRecord): ApiModelRef {
  const b = r.backbone;
  const note = weightsNote(r).replace(/\*\*/g, '');
  return {
    runId: r.id,
    backbone: b.name,
    weights: b.weights,
    weightsNote: b.note,
    warning: b.weights === 'synthetic' ? `SYNTHETIC WEIGHTS: ${note}` : b.weights === 'unknown' ? note : null,
  };
}

function hazardsOf(m: EvaluationReport | null): CardHazard[] {
  if (!m) return [{ title: null, text: 'Without test results, source shortcuts could not be checked.' }];
  const h = findHazards(m);
  const out: CardHazard[] = [];
  if (h.singleClassSources.length) {
    const list = h.singleClassSources.map((s) => `${s.source} (${s.n} images, all ${s.cls})`).join('; ');
    out.push({ title: 'Source shortcut', text: `${(100 * h.singleClassShare).toFixed(0)}% of the test images come from sources that hold only one class: ${list}. On those images a model can be right by recognising the source (scanner, hospital, processing, text markers) instead of disease, and the overall AUC cannot tell the two apart.` });
  }
  const ws = h.weakGroups.filter((w) => w.kind === 'source');
  if (ws.length) {
    const list = ws.map((w) => `inside ${w.name} (${w.positives} COVID, ${w.negatives} non-COVID test images) the AUC is ${w.auc}`).join('; ');
    out.push({ title: 'Within-source performance is much lower', text: `${list}, against ${aucCi(m)} overall. Within one source the model separates COVID from non-COVID far less well, which is what to expect if the overall AUC rests partly on telling sources apart.` });
  }
  const wv = h.weakGroups.filter((w) => w.kind === 'view');
  if (wv.length) {
    out.push({ title: 'Weak on some views', text: `${wv.map((w) => `${w.name} AUC ${w.auc} (${w.positives} COVID, ${w.negatives} non-COVID)`).join('; ')}, against ${aucCi(m)} overall. View often goes with the patient's condition (supine AP films are taken of sicker patients), another possible shortcut.` });
  }
  if (!m.bySource) out.push({ title: null, text: 'The test predictions carry no source information, so source shortcuts cannot be checked from this run.' });
  else if (!out.length) out.push({ title: null, text: `No single-class source and no source or view with an AUC more than ${AUC_GAP} below the overall AUC was found in the test set.` });
  out.push({ title: 'Small groups', text: `intervals of per-source and per-view results are wide; a group AUC is reported as a hazard when the group has at least ${MIN_PER_CLASS} images of each class and its AUC is more than ${AUC_GAP} below the overall AUC.` });
  return out;
}

function limitationsOf(r: RunRecord, m: EvaluationReport | null, ref: ApiModelRef): string[] {
  return [
    ...(r.backbone.weights !== 'imagenet' && ref.warning ? [ref.warning] : []),
    'Public COVID-19 X-ray collections are confounded by source: most COVID images come from web and paper figures, most non-COVID ones from one hospital archive, and a source often holds only one class. The model may recognise the source rather than the disease, and results on these collections overstate performance on new hospitals.',
    `Test results describe this run's test set only (${m ? `${m.n} images` : 'none'}): every number carries sampling uncertainty shown by its interval, small per-source and per-view groups especially; they do not predict performance on other hospitals, devices or populations.`,
    'Only frontal chest X-rays resembling the training data give meaningful outputs. The input gate refuses what is plainly something else (another modality, a lateral view, a photograph, features far from the training images) and warns about what is unusual, but it cannot catch every image the model was not built for.',
    'Labels are those of the source collections (PCR-confirmed for some, reported for others); no radiologist re-read them for this run.',
    'Only the last layer is trained; the backbone keeps its ImageNet features, which were not made for radiographs.',
    'PPV and NPV depend on prevalence: they are stated at the prevalence given in the run settings (default: that of the test set), which is far above that of any screened population.',
  ];
}

/** Everything the card is built from: a run's record, its test metrics and its optional shortcut check. */
export interface CardSource {
  record: RunRecord;
  metrics: EvaluationReport | null;
  shortcutCheck?: unknown;
}

/** Builds the model card of a run as data (the single source of every card text). */
export function buildModelCard(run: CardSource): ModelCard {
  const r = run.record;
  const m = run.metrics;
  const c = r.data.counts;
  const ref = modelRef(r);
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const howChosen = r.threshold.fallback
    ? 'The validation split had no COVID images, so the default 0.5 was used.'
    : `The highest threshold that still caught at least ${pct(r.threshold.targetSensitivity)} of the COVID images of the validation split ` +
      `(${c.val.n} images held out from training, ${c.val.covid} COVID, split by ${r.data.validationBy}); the test set was not used for this choice.`;
  const pre = r.backbone.manifest.preprocess;
  return {
    runId: r.id,
    createdAt: r.createdAt,
    model: ref,
    backbone: { name: r.backbone.name, file: basename(r.backbone.file), sha256: r.backbone.sha256, head: r.backbone.manifest.head.kind, dropout: r.backbone.manifest.head.dropout, note: r.backbone.note },
    input: { formats: 'PNG, JPEG, TIFF, WebP or DICOM', resizeShorter: pre.resizeShorter, crop: [pre.crop[0], pre.crop[1]] },
    training: {
      dataset: basename(r.data.root),
      dataHash: r.data.hash,
      origin: r.data.origin,
      counts: { train: c.train, trainAugmented: c.trainAugmented, validation: c.val, test: c.test },
      validationSplitBy: r.data.validationBy,
      protocol: { epochs: r.training.epochs, bestEpoch: r.training.bestEpoch, batchSize: r.config.batchSize, lr: r.config.lr, augmentFactor: r.config.augmentFactor, seed: r.config.seed, classWeighting: !!r.config.classWeighting },
      unreadableImages: r.data.failures.length,
    },
    threshold: { value: r.threshold.value, chosenOn: r.threshold.chosenOn, targetSensitivity: r.threshold.targetSensitivity, fallback: r.threshold.fallback, howChosen, optimistic: m?.optimisticThreshold?.threshold ?? null },
    test: m
      ? {
          n: m.n,
          covid: m.positives,
          patients: m.patients,
          auc: m.auc
            ? {
                value: m.auc.value,
                ci95: m.auc.delong ? [m.auc.delong.lower, m.auc.delong.upper] : null,
                method: 'DeLong 95% interval',
                patientBootstrap95: m.auc.patientBootstrap ? [m.auc.patientBootstrap.lower, m.auc.patientBootstrap.upper] : null,
              }
            : null,
          operatingPoint: apiOperatingPoint(m.operatingPoint),
          calibration: { brier: m.calibration.brier, ece: m.calibration.ece },
          bySource: m.bySource ? Object.entries(m.bySource).map(([source, g]) => ({ source, n: g.n, covid: g.positives, nonCovid: g.negatives })) : null,
        }
      : null,
    hazards: hazardsOf(m),
    shortcutCheck: run.shortcutCheck ?? null,
    intendedUse: INTENDED_USE,
    intendedFor: INTENDED_FOR,
    outOfScope: OUT_OF_SCOPE,
    limitations: limitationsOf(r, m, ref),
    privacy: PRIVACY_NOTE,
    reproduce: `deep-covid train --data ${basename(r.data.root)} --backbone ${r.backbone.name} --seed ${r.config.seed} --epochs ${r.config.epochs} --out runs/${r.id}`,
  };
}

function pctText(p: ApiProportion): string {
  if (p.estimate === null || !p.ci95) return 'n/a';
  const f = (x: number) => (100 * x).toFixed(1);
  return `${f(p.estimate)}% (${f(p.ci95[0])}–${f(p.ci95[1])})`;
}

function aucText(a: NonNullable<ModelCard['test']>['auc']): string {
  if (!a) return 'n/a';
  return a.ci95 ? `${a.value.toFixed(3)} (${a.ci95[0].toFixed(3)}–${a.ci95[1].toFixed(3)})` : a.value.toFixed(3);
}

/** The card as Markdown; `level` is the heading level of its title (2 inside a run report). */
export function modelCardMarkdown(card: ModelCard, level = 2): string {
  const h = (k: number, text: string) => `${'#'.repeat(Math.min(6, level + k))} ${text}`;
  const t = card.training;
  const c = t.counts;
  const p = t.protocol;
  const out: string[] = [];
  out.push(h(0, 'Model card'), '');
  out.push('Headings loosely follow CLAIM (Checklist for AI in Medical Imaging) and TRIPOD+AI.', '');

  out.push(h(1, 'Model details'), '');
  out.push(`- Name: deep-covid run ${mdCode(card.runId)}, created ${card.createdAt}`);
  out.push(`- Architecture: ${card.backbone.name} backbone (${card.model.weights} weights; ${mdText(card.backbone.note)}), frozen; a new last layer (${card.backbone.head}, dropout ${card.backbone.dropout}) trained on its features, as in Deep-COVID (Minaee et al. 2020)`);
  out.push(`- Input: one chest X-ray (${card.input.formats}), converted to grey, resized to the shorter side ${card.input.resizeShorter} and centre-cropped to ${card.input.crop.join('×')}; output: P(COVID-19) and a call at the operating threshold`);
  out.push(`- Training: Adam, learning rate ${p.lr}, batch ${p.batchSize}, ${p.epochs} epochs, seed ${p.seed}${p.classWeighting ? ', class-weighted loss' : ''}; the epoch with the lowest validation loss (${p.bestEpoch}) is kept`);
  out.push(`- Model file: ${mdCode(card.backbone.file)} (sha256 \`${card.backbone.sha256.slice(0, 16)}…\`)`);
  if (card.model.warning) out.push('', `**${mdText(card.model.warning)}**`);
  out.push('');

  out.push(h(1, 'Intended use'), '');
  out.push(`- **${INTENDED_USE.split('. ')[0]}.** ${INTENDED_USE.split('. ').slice(1).join('. ')}`);
  out.push(`- Intended for: ${mdText(card.intendedFor)}`);
  out.push(`- Out of scope: ${mdText(card.outOfScope)}`, '');

  out.push(h(1, 'Training and evaluation data'), '');
  out.push(`- Data folder: ${mdCode(t.dataset)} (${t.origin === 'manifest' ? 'manifest.csv with sources, patients and views' : 'class folders, no source or patient information'}); content hash \`${t.dataHash.slice(0, 16)}…\``);
  out.push(`- Training: ${c.train.n} images (${c.train.covid} COVID, ${c.train.n - c.train.covid} non-COVID); COVID images augmented ×${p.augmentFactor} to ${c.trainAugmented.n} training examples (${c.trainAugmented.covid} COVID)`);
  out.push(`- Validation (model selection and threshold): ${c.validation.n} images (${c.validation.covid} COVID), held out from the training split by ${t.validationSplitBy}${t.validationSplitBy === 'image' ? ' (the data had no patient ids, so a patient may be in both parts)' : ''}`);
  out.push(`- Test: ${c.test ? `${c.test.n} images (${c.test.covid} COVID, ${c.test.n - c.test.covid} non-COVID)${card.test?.patients ? ` from ${card.test.patients} patients` : ''}` : 'none (the run has no test split)'}`);
  if (t.unreadableImages) out.push(`- ${t.unreadableImages} unreadable image(s) skipped (listed in run.json)`);
  if (card.test?.bySource) {
    out.push('', 'Test images by source (training images come from the same collections; run.json does not count them per source):', '', '| source | test images | COVID | non-COVID |', '|---|---:|---:|---:|');
    for (const s of card.test.bySource) out.push(`| ${mdText(s.source)} | ${s.n} | ${s.covid} | ${s.nonCovid} |`);
  }
  out.push('');

  out.push(h(1, 'Operating threshold'), '');
  const thr = card.threshold;
  out.push(`The model calls an image COVID when P(COVID) ≥ ${thr.value.toFixed(4)}. ${mdText(thr.howChosen)}${thr.optimistic !== null ? ` The paper instead fitted the threshold on the test set; that "optimistic" threshold (${thr.optimistic.toFixed(4)} here) is reported for comparison only.` : ''}`, '');

  out.push(h(1, 'Test results'), '');
  const test = card.test;
  if (test) {
    const op = test.operatingPoint;
    out.push(`- AUC ${aucText(test.auc)} (DeLong 95% CI)${test.auc?.patientBootstrap95 ? `; patient-clustered bootstrap 95% CI ${test.auc.patientBootstrap95[0].toFixed(3)}–${test.auc.patientBootstrap95[1].toFixed(3)}` : ''}`);
    out.push(`- At the operating threshold: sensitivity ${pctText(op.sensitivity)}, specificity ${pctText(op.specificity)} (Wilson 95% CIs); TP ${op.confusion.tp}, FN ${op.confusion.fn}, TN ${op.confusion.tn}, FP ${op.confusion.fp}`);
    out.push(`- Calibration: Brier score ${test.calibration.brier.toFixed(4)}, expected calibration error ${test.calibration.ece.toFixed(4)}`);
  } else out.push('- The run has no test results (no test split).');
  out.push('');

  out.push(h(1, 'Known hazards'), '');
  // hazard texts name sources from the data: escaped, so they show exactly as written
  for (const z of card.hazards) out.push(`- ${z.title ? `**${mdText(z.title)}.** ` : ''}${mdText(z.text)}`);
  out.push('');

  out.push(h(1, 'Shortcut check'), '');
  out.push(...shortcutCheckMarkdown(card.shortcutCheck), '');

  out.push(h(1, 'Limitations'), '');
  for (const l of card.limitations) out.push(`- ${mdText(l)}`);
  out.push('');

  out.push(h(1, 'Privacy'), '', mdText(card.privacy), '');

  out.push(h(1, 'Reproducibility'), '');
  out.push(`- Seed ${p.seed}; data hash \`${t.dataHash}\`; model sha256 \`${card.backbone.sha256}\``);
  out.push(`- Re-run: ${mdCode(card.reproduce)}`);
  out.push('');
  return out.join('\n');
}

/** The card as one self-contained HTML page (no scripts, no external references). */
export function modelCardHtml(card: ModelCard): string {
  return reportHtml({ title: `Model card: deep-covid run ${card.runId}`, markdown: modelCardMarkdown(card, 1), figures: [] });
}
