import { basename } from 'node:path';
import { DatasetError } from '../errors.js';
import { Backbone, type BackboneOptions } from '../backbone/backbone.js';
import { readDataset, splitOf, type DatasetItem } from '../dataset/read.js';
import type { FeatureCache } from '../features/cache.js';
import type { LoadLimits } from '../input/load-image.js';
import { createAcquisitionAugmenter, createAugmenter } from '../augment/index.js';
import { withRobustPreprocess } from '../preprocess/config.js';
import { fitGateCrossFitted, gateToJSON, measureSymmetry, pooledRows, type GateModel } from '../gate/index.js';
import { groupIds, headSpecFor, headToJSON, predictProba, sourceDirections, trainHead, type SourceDirections } from '../head/index.js';
import { evaluatePredictions, thresholdForSensitivity, type EvaluationReport } from '../evaluate/index.js';
import { sha256Hex } from '../util/hash.js';
import { createProgress, type ProgressListener } from '../util/progress.js';
import { PAPER_PROTOCOL, type ProtocolConfig } from './config.js';
import { buildFeatureSet, type FeatureSet } from './feature-sets.js';
import { prepareRunOutput, RUN_FILES, RUN_FORMAT, RUN_VERSION, writeRunDir, type DataFileRow, type RunFiles, type RunRecord } from './run-folder.js';
import { formatCsv } from '../util/csv.js';
import { historyCsv, predictionsCsv, runSummaryMarkdown } from './run-files.js';
import { validationSplit } from './validation-split.js';

/** Everything `train` needs. */
export interface TrainRunOptions {
  data: string;
  manifest?: string | false;
  out: string;
  force?: boolean;
  config: Partial<ProtocolConfig> & { backbone: string };
  /** An ONNX file to use instead of the registry lookup. */
  modelPath?: string;
  runtime?: BackboneOptions;
  /** Feature cache; none by default. */
  cache?: FeatureCache | null;
  limits?: Partial<LoadLimits>;
  /** Receives progress events (the library never prints). */
  onProgress?: ProgressListener;
  log?: (msg: string) => void;
}

/** What a finished training run returns. */
export interface TrainRunResult {
  dir: string;
  record: RunRecord;
  metrics: EvaluationReport | null;
}

function counts(items: { label: number }[]): { n: number; covid: number } {
  return { n: items.length, covid: items.reduce((s, i) => s + (i.label === 1 ? 1 : 0), 0) };
}

/** data-files.csv: each image of each part once (augmented copies share their original's row). */
function dataFilesCsv(parts: [DataFileRow['part'], FeatureSet][]): string {
  const rows: DataFileRow[] = [];
  for (const [part, set] of parts) {
    const seen = new Set<string>();
    set.items.forEach((it, i) => {
      if (seen.has(it.rel)) return;
      seen.add(it.rel);
      rows.push({ part, file: it.rel, sha256: set.sha256[i] });
    });
  }
  return formatCsv(rows as unknown as Record<string, unknown>[], ['part', 'file', 'sha256']);
}

function dataHash(sets: FeatureSet[]): string {
  const pairs = new Set<string>();
  for (const s of sets) s.items.forEach((it, i) => pairs.add(`${it.rel}\t${s.sha256[i]}`));
  return sha256Hex([...pairs].sort().join('\n'));
}

/**
 * Runs the Deep-COVID protocol on a dataset with one backbone: features of the frozen backbone
 * (COVID training images oversampled by augmentation), a new last layer trained with Adam, the
 * best epoch and the operating threshold chosen on a patient-disjoint validation part of the
 * training data, then the test set evaluated once. Writes the run directory atomically.
 */
export async function trainRun(opts: TrainRunOptions): Promise<TrainRunResult> {
  const log = opts.log ?? (() => {});
  const cfg: ProtocolConfig = { ...PAPER_PROTOCOL, ...opts.config };
  const timings: Record<string, number> = {};
  const clock = (name: string, t0: number) => (timings[name] = Math.round(performance.now() - t0) / 1000);
  // an impossible or protected output is found now, not after all the training
  await prepareRunOutput(opts.out, { replace: !!opts.force });

  const ds = await readDataset(opts.data, { positiveClass: cfg.positiveClass, manifest: opts.manifest });
  const trainAll = splitOf(ds, cfg.trainSplit);
  const testItems: DatasetItem[] = ds.items.some((i) => i.split === cfg.testSplit) ? splitOf(ds, cfg.testSplit) : [];
  if (!trainAll.some((i) => i.label === 1) || !trainAll.some((i) => i.label === 0)) {
    throw new DatasetError(`the "${cfg.trainSplit}" split of ${ds.root} needs images of both classes ("${cfg.positiveClass}" and at least one other)`);
  }
  if (cfg.augmentFactor > 1 && trainAll.some((i) => i.derivedFrom)) {
    // `dataset augment` already oversampled: augmenting again on the fly would count COVID twice
    log(`note: ${ds.root} holds materialised augmented copies (derived_from in the manifest), so on-the-fly augmentation is off for this run`);
    cfg.augmentFactor = 1;
  }
  if ((cfg.sampling ?? 'shuffle') !== 'shuffle' && !trainAll.some((i) => i.source)) {
    log(`note: ${ds.root} names no image sources (no source column in a manifest), so sampling "${cfg.sampling}" cannot balance sources`);
  }
  const split = validationSplit(trainAll, cfg.valFraction, cfg.seed);
  if (split.by === 'image') log('note: the dataset has no patient ids, so validation is split by image (patients may straddle train and validation)');

  let t0 = performance.now();
  const loaded = await Backbone.load(cfg.backbone, { ...opts.runtime, path: opts.modelPath });
  // the robustness options become part of the run's preprocessing contract (recorded in run.json,
  // part of every feature-cache key, applied again by the model at prediction)
  let backbone: Backbone;
  try {
    backbone = loaded.withPreprocess(withRobustPreprocess(loaded.manifest.preprocess, { greyLevels: cfg.greyLevels ?? 'none', borderCrop: cfg.borderCrop ?? 0, lungField: cfg.lungField ?? false }));
  } catch (err) {
    await loaded.release();
    throw err;
  }
  clock('loadBackbone', t0);
  if (backbone.weights === 'synthetic') log(`warning: ${backbone.located.path} has synthetic weights (structure only): its results mean nothing`);
  const { spec, tensor } = await headSpecFor(backbone);
  const augmenter = cfg.augmentFactor > 1
    ? (cfg.acquisitionAugment ? createAcquisitionAugmenter({}, cfg.seed) : createAugmenter({}, cfg.seed))
    : undefined;
  // acquisition augmentation reaches both classes, so that augmentation artefacts never mark COVID
  const augmentFactorOther = augmenter && cfg.acquisitionAugment ? 2 : 1;
  const common = { tensor, cache: opts.cache, batchSize: 20, limits: opts.limits, onProgress: opts.onProgress };
  try {
    t0 = performance.now();
    const train = await buildFeatureSet(backbone, split.train, { ...common, augmentFactor: cfg.augmentFactor, augmentFactorOther, augmenter, label: `${cfg.backbone} train features` });
    clock('extractTrain', t0);
    t0 = performance.now();
    const val = await buildFeatureSet(backbone, split.val, { ...common, label: `${cfg.backbone} validation features` });
    clock('extractVal', t0);
    t0 = performance.now();
    const test = testItems.length ? await buildFeatureSet(backbone, testItems, { ...common, label: `${cfg.backbone} test features` }) : null;
    clock('extractTest', t0);
    if (val.items.length === 0) throw new DatasetError(`validation part of ${ds.root} is empty: the training split is too small for a validation fraction of ${cfg.valFraction}`);

    const nPos = train.labels.reduce((s, v) => s + v, 0);
    const classWeights: [number, number] | undefined = cfg.classWeighting
      ? [train.labels.length / (2 * (train.labels.length - nPos)), train.labels.length / (2 * nPos)]
      : undefined;
    t0 = performance.now();
    const nulls = cfg.sourceNull > 0 ? await runSourceDirections(backbone, train, tensor, cfg.sourceNull) : null;
    if (nulls) clock('sourceNull', t0);
    const bar = createProgress({ label: `${cfg.backbone} head training`, total: cfg.epochs, unit: 'epochs', onProgress: opts.onProgress });
    t0 = performance.now();
    const trained = trainHead(spec, { features: train.features, labels: train.labels }, { features: val.features, labels: val.labels }, {
      seed: cfg.seed, epochs: cfg.epochs, batchSize: cfg.batchSize, lr: cfg.lr, classWeights, onEpoch: () => bar.tick(),
      sampleGroups: samplingGroups(train.items, cfg.sampling ?? 'shuffle'),
      nullDirections: nulls ?? undefined,
    });
    bar.done();
    clock('trainHead', t0);

    // the operating threshold comes from validation only; the test set is never used for a choice
    const valProbs = predictProba(trained.head, val.features);
    const chosen = thresholdForSensitivity(valProbs, val.labels, cfg.targetSensitivity);
    const threshold = chosen ?? 0.5;
    if (chosen === null) log(`warning: validation has no COVID images, so the operating threshold falls back to 0.5`);

    // the input gate's density model: training and validation originals, cross-fitted cut-offs
    t0 = performance.now();
    const gate = await fitRunGate(backbone, train, val, tensor, log, opts.limits);
    clock('fitGate', t0);

    t0 = performance.now();
    let metrics: EvaluationReport | null = null;
    let testProbs: Float64Array | null = null;
    if (test && test.items.length > 0) {
      testProbs = predictProba(trained.head, test.features);
      const prevalence = cfg.prevalence ?? test.labels.reduce((s, v) => s + v, 0) / test.labels.length;
      metrics = evaluatePredictions(
        {
          probs: testProbs,
          labels: test.labels,
          patients: ds.hasPatients ? test.items.map((i) => i.patient!) : undefined,
          groups: {
            source: test.items.some((i) => i.source) ? test.items.map((i) => sourceName(i)) : undefined,
            view: test.items.some((i) => i.view) ? test.items.map((i) => i.view ?? 'unknown') : undefined,
          },
        },
        { thresholds: cfg.thresholds, operatingThreshold: threshold, targetSensitivity: cfg.targetSensitivity, prevalence },
      );
    }
    clock('evaluate', t0);

    const record: RunRecord = {
      format: RUN_FORMAT,
      version: RUN_VERSION,
      id: basename(opts.out),
      createdAt: new Date().toISOString(),
      config: cfg,
      backbone: {
        name: backbone.name,
        file: backbone.located.path,
        sha256: backbone.modelSha256,
        weights: backbone.weights,
        note: backbone.located.provenance?.note ?? 'model file not in the registry',
        manifest: backbone.manifest,
      },
      data: {
        root: ds.root,
        origin: ds.origin,
        hash: dataHash([train, val, ...(test ? [test] : [])]),
        validationBy: split.by,
        counts: {
          train: counts(split.train),
          trainAugmented: counts(train.items),
          val: counts(val.items),
          test: test ? counts(test.items) : null,
        },
        failures: [...train.failures, ...val.failures, ...(test?.failures ?? [])]
          .filter((f) => f.variant === 0)
          .map((f) => ({ file: f.file, message: f.message })),
      },
      training: {
        bestEpoch: trained.bestEpoch, bestValLoss: trained.bestValLoss, epochs: cfg.epochs,
        ...(nulls ? { sourceNull: { iterations: cfg.sourceNull, directions: nulls.count, fits: nulls.fits.length, file: RUN_FILES.sourceDirections } } : {}),
      },
      threshold: { value: threshold, chosenOn: 'validation', targetSensitivity: cfg.targetSensitivity, fallback: chosen === null },
      timings,
    };
    const files: RunFiles = {
      [RUN_FILES.record]: JSON.stringify(record, null, 2) + '\n',
      [RUN_FILES.head]: JSON.stringify(headToJSON(trained.head)) + '\n',
      [RUN_FILES.history]: historyCsv(trained.history),
      [RUN_FILES.valPredictions]: predictionsCsv(val.items, valProbs, threshold),
      [RUN_FILES.summary]: runSummaryMarkdown(record, metrics),
      [RUN_FILES.dataFiles]: dataFilesCsv([['train', train], ['val', val], ...(test ? [['test', test] as ['test', FeatureSet]] : [])]),
    };
    if (gate) files[RUN_FILES.gate] = JSON.stringify(gateToJSON(gate)) + '\n';
    if (nulls) files[RUN_FILES.sourceDirections] = sourceDirectionsJson(nulls);
    if (metrics && testProbs && test) {
      files[RUN_FILES.metrics] = JSON.stringify(metrics, null, 1) + '\n';
      files[RUN_FILES.predictions] = predictionsCsv(test.items, testProbs, threshold);
    }
    await writeRunDir(opts.out, files, !!opts.force);
    return { dir: opts.out, record, metrics };
  } finally {
    await backbone.release();
  }
}

/**
 * Fits the input gate on the run's features: the pooled vector of each original training and
 * validation image (SqueezeNet's maps are pooled here; augmented copies are not what a user
 * drops), the cut-offs from their out-of-fold scores over 5 folds grouped by patient (by image
 * without patient ids), weighing each image's mirror symmetry (measured here: the features do not
 * hold it) so that lateral films are told from frontal ones. Returns null, with a note, when the
 * data are too few to set a cut-off.
 */
async function fitRunGate(backbone: Backbone, train: FeatureSet, val: FeatureSet, tensor: 'pooled' | 'map', log: (msg: string) => void, limits?: Partial<LoadLimits>): Promise<GateModel | null> {
  const mapShape = tensor === 'map' ? (await backbone.featureShapes()).map : null;
  const originals = train.variants.flatMap((v, i) => (v === 0 ? [i] : []));
  const all = (n: number) => Array.from({ length: n }, (_, i) => i);
  const items = [...originals.map((i) => train.items[i]), ...val.items];
  const byPatient = items.every((i) => !!i.patient);
  const groups = items.map((i) => (byPatient ? i.patient! : (i.derivedFrom ?? i.rel)));
  const t = pooledRows(train.features, train.dim, originals, mapShape);
  const v = pooledRows(val.features, val.dim, all(val.items.length), mapShape);
  const rows = { data: new Float32Array(t.data.length + v.data.length), n: t.n + v.n, dim: t.dim };
  rows.data.set(t.data);
  rows.data.set(v.data, t.data.length);
  // the files were just read for their features, so this fails only if one changed meanwhile
  const symmetry = await measureSymmetry(items.map((i) => i.file), { limits }).catch((err: unknown) => {
    log(`note: the gate does not weigh mirror symmetry for this run (${err instanceof Error ? err.message : String(err)})`);
    return undefined;
  });
  try {
    const gate = fitGateCrossFitted(rows, groups, { backboneSha256: backbone.modelSha256, groupedBy: byPatient ? 'patient' : 'image', symmetry });
    if (rows.n < 100) log(`note: the out-of-distribution cut-off was set on only ${rows.n} images; it is rough`);
    return gate;
  } catch (err) {
    log(`note: no out-of-distribution gate for this run (${err instanceof Error ? err.message : String(err)})`);
    return null;
  }
}

/**
 * The source directions of a run (robustness option sourceNull), learnt on the pooled features of
 * the original training images only (not their augmented copies, not validation), sources told
 * apart within each class.
 */
async function runSourceDirections(backbone: Backbone, train: FeatureSet, tensor: 'pooled' | 'map', iterations: number): Promise<SourceDirections & { sources: string[] }> {
  const mapShape = tensor === 'map' ? (await backbone.featureShapes()).map : null;
  const originals = train.variants.flatMap((v, i) => (v === 0 ? [i] : []));
  const rows = pooledRows(train.features, train.dim, originals, mapShape);
  const { ids, groups } = groupIds(originals.map((i) => sourceName(train.items[i])));
  return { ...sourceDirections(rows.data, rows.n, rows.dim, originals.map((i) => train.labels[i]), ids, { iterations }), sources: groups };
}

/** source-directions.json: the directions (rows of the head's channels) and the fits that found them, sources by name. */
function sourceDirectionsJson(d: SourceDirections & { sources: string[] }): string {
  return JSON.stringify({
    format: 'deep-covid-source-directions',
    version: 1,
    dim: d.dim,
    count: d.count,
    fits: d.fits.map((f) => ({ ...f, source: d.sources[f.group] })),
    directions: Array.from({ length: d.count }, (_, k) => Array.from(d.directions.subarray(k * d.dim, (k + 1) * d.dim))),
  }) + '\n';
}

/**
 * Group ids of the training samples for balanced sampling (undefined for 'shuffle', the paper):
 * by source, or by source and class.
 */
export function samplingGroups(items: DatasetItem[], sampling: ProtocolConfig['sampling']): Int32Array | undefined {
  if (sampling === 'shuffle') return undefined;
  return groupIds(items.map((it) => (sampling === 'source' ? sourceName(it) : `${sourceName(it)}\t${it.label}`))).ids;
}

/** The item's source for per-source metrics ('unknown' when the manifest has none). */
export function sourceName(item: DatasetItem): string {
  return item.source ?? 'unknown';
}
