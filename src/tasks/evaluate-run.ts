import type { ProgressListener } from '../util/progress.js';
import { join, resolve } from 'node:path';
import { readDataset, splitOf, type DatasetItem } from '../dataset/read.js';
import { DatasetError } from '../errors.js';
import type { GateResult } from '../gate/index.js';
import type { FeatureCache } from '../features/cache.js';
import type { LoadLimits } from '../input/load-image.js';
import { evaluatePredictions, type EvaluationReport } from '../evaluate/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { isPredicted, loadModel, type ModelLoadOptions, type PredictionResult } from '../model/index.js';
import { readDataFiles, type DataFileRow } from '../protocol/run-folder.js';
import { predictionsCsv, aucCi, calibrationSentence, pctCi, predictiveValuesTable, setPrevalenceOf, thresholdTable, weightsNote } from '../protocol/run-files.js';
import { gateCsv, gateSummaryMarkdown, summariseGate, type EvaluationGateSummary } from './evaluate-gate.js';
import { sourceName } from '../protocol/train-run.js';

/** Options of `evaluate`. */
export interface EvaluateRunOptions extends ModelLoadOptions {
  run: string;
  data: string;
  manifest?: string | false;
  /** Split to evaluate; 'all' takes every image of the dataset. */
  split: string;
  /** Output folder (default <run>/evaluations/<dataset name>-<split>). */
  out?: string;
  /** Prevalence at which PPV and NPV are stated (default: the evaluated set's); shown in the PPV/NPV table too. */
  prevalence?: number;
  /**
   * false: the input gate refuses nothing (research use); every image is scored, and the outputs
   * say so and count what would have been refused. Default true: refused images get no
   * probability and are left out of the metrics.
   */
  gate?: boolean;
  /** Feature cache; none by default. */
  cache?: FeatureCache | null;
  signal?: AbortSignal;
  limits?: Partial<LoadLimits>;
  /** Receives progress events (the library never prints). */
  onProgress?: ProgressListener;
}

/** What `evaluateRun` returns. */
export interface EvaluateRunResult {
  out: string;
  metrics: EvaluationReport;
  /** Unreadable files (skipped). */
  failures: number;
  overlap: RunOverlap;
  gate: EvaluationGateSummary;
}

/**
 * Evaluates a trained run on any dataset (e.g. an external one) at the run's own operating
 * threshold, writing metrics.json, predictions.csv, gate.csv and summary.md. Every image passes
 * the input gate as in `predict`: refused ones get no probability and are counted and listed, not
 * scored; warned ones are scored and counted.
 * @throws DatasetError when the gate refused every readable image.
 */
export async function evaluateRun(opts: EvaluateRunOptions): Promise<EvaluateRunResult> {
  const model = await loadModel(opts.run, opts);
  const run = model.runs[0];
  const gateOn = opts.gate !== false;
  let set;
  try {
    const ds = await readDataset(opts.data, { positiveClass: run.record.config.positiveClass, manifest: opts.manifest });
    const items = opts.split === 'all' ? ds.items : splitOf(ds, opts.split);
    const preds = await model.predict(items.map((it) => it.file), {
      cache: opts.cache, limits: opts.limits, onProgress: opts.onProgress, signal: opts.signal, label: `${model.info.backbone} ${opts.split} features`, gate: gateOn,
    });
    const kept: { item: DatasetItem; p: PredictionResult }[] = [];
    const gated: { item: DatasetItem; gate: GateResult }[] = [];
    preds.forEach((p, i) => {
      if (isPredicted(p)) kept.push({ item: items[i], p });
      if (!('error' in p)) gated.push({ item: items[i], gate: p.gate });
    });
    set = {
      root: ds.root,
      items: kept.map((k) => k.item),
      probs: Float64Array.from(kept, (k) => k.p.probability),
      sha256: kept.map((k) => k.p.sha256),
      failures: preds.filter((p) => 'error' in p).length,
      gate: summariseGate(gated, gateOn),
      readable: gated.length,
    };
  } finally {
    await model.release();
  }
  if (set.items.length === 0) {
    throw new DatasetError(set.readable
      ? `the input gate refused all ${set.readable} readable images of ${set.root} (${opts.split}): nothing is left to evaluate (${Object.entries(set.gate.refusedByReason).map(([k, n]) => `${k} ${n}`).join(', ')})`
      : `no image of ${set.root} (${opts.split}) could be read`);
  }
  const overlap = await overlapWithRun(model.runs, set.sha256);
  const labels = Uint8Array.from(set.items, (i) => i.label);
  const probs = set.probs;
  const threshold = model.threshold;
  const cfg = run.record.config;
  const metrics = evaluatePredictions(
    {
      probs,
      labels,
      patients: set.items.every((i) => i.patient) ? set.items.map((i) => i.patient!) : undefined,
      groups: {
        source: set.items.some((i) => i.source) ? set.items.map(sourceName) : undefined,
        view: set.items.some((i) => i.view) ? set.items.map((i) => i.view ?? 'unknown') : undefined,
      },
    },
    {
      thresholds: cfg.thresholds,
      operatingThreshold: threshold,
      targetSensitivity: cfg.targetSensitivity,
      prevalence: opts.prevalence ?? labels.reduce((s, v) => s + v, 0) / Math.max(1, labels.length),
    },
  );
  const name = `${set.root.replace(/[\\/]+$/, '').split(/[\\/]/).pop()}-${opts.split}`;
  const out = resolve(opts.out ?? join(model.dir, 'evaluations', name));
  const w = [...new Set(model.runs.map((r) => weightsNote(r.record)).filter(Boolean))].join(' ');
  const op = metrics.operatingPoint;
  const g = set.gate;
  const pv = predictiveValuesTable(metrics, [op.prevalence]);
  const summary = [
    `# Evaluation of ${model.info.backbone} run ${model.info.runId} on ${set.root} (${opts.split})`, '',
    'Research software, not a diagnostic device.', '', ...(w ? [w, ''] : []),
    ...(overlap.warning ? [`**Warning:** ${overlap.warning}`, ''] : []),
    ...(g.enabled ? [] : ['**The input gate was switched off:** nothing was refused, whatever it was; see "Input gate" below.', '']),
    `- ${metrics.n} images scored (${metrics.positives} COVID)${g.enabled && g.refused ? `; ${g.refused} refused by the input gate and not scored` : ''}${set.failures ? `; ${set.failures} unreadable file(s) skipped` : ''}`,
    `- AUC ${aucCi(metrics)} (DeLong 95% CI)`,
    `- At the run's operating threshold ${threshold.toFixed(4)} (chosen on the run's validation data): sensitivity ${pctCi(op.sensitivity)}, specificity ${pctCi(op.specificity)}`, '',
    thresholdTable(metrics), '',
    ...(pv ? ['## PPV and NPV at a clinic\'s prevalence', '', calibrationSentence(setPrevalenceOf(metrics)).replace("the test set's", "this set's"), '', pv, ''] : []),
    ...gateSummaryMarkdown(g, set.readable),
  ].join('\n');
  await writeFileAtomic(join(out, 'metrics.json'), JSON.stringify({ ...metrics, overlapWithRun: overlap, gate: g }, null, 1) + '\n');
  await writeFileAtomic(join(out, 'predictions.csv'), predictionsCsv(set.items, probs, threshold));
  await writeFileAtomic(join(out, 'gate.csv'), gateCsv(g));
  await writeFileAtomic(join(out, 'summary.md'), summary);
  return { out, metrics, failures: set.failures, overlap, gate: g };
}

/** How many evaluated images the run itself was trained or validated on (by content), and what that means. */
export interface RunOverlap {
  train: number;
  val: number;
  test: number;
  /** False for runs written before data-files.csv existed: overlap cannot be known. */
  known: boolean;
  warning: string | null;
}

async function overlapWithRun(runs: readonly { dir: string }[], hashes: string[]): Promise<RunOverlap> {
  const rows = (await Promise.all(runs.map((r) => readDataFiles(r)))).flat();
  if (rows.length === 0) return { train: 0, val: 0, test: 0, known: false, warning: null };
  const part = new Map<string, DataFileRow['part']>();
  // an image in several parts counts where it matters most: train, then validation
  for (const want of ['test', 'val', 'train'] as const) for (const r of rows) if (r.part === want) part.set(r.sha256, want);
  const n = { train: 0, val: 0, test: 0 };
  for (const h of hashes) {
    const p = part.get(h);
    if (p) n[p]++;
  }
  const seen = n.train + n.val;
  const warning = seen
    ? `${seen} of the ${hashes.length} evaluated images were used to train (${n.train}) or validate (${n.val}) this run: its numbers on them are inflated and say nothing about new images.`
    : null;
  return { ...n, known: true, warning };
}
