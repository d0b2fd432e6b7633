import type { ProgressListener } from '../util/progress.js';
import { join, resolve } from 'node:path';
import { readDataset, splitOf } from '../dataset/read.js';
import type { FeatureCache } from '../features/cache.js';
import type { LoadLimits } from '../input/load-image.js';
import { evaluatePredictions, type EvaluationReport } from '../evaluate/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { loadModel, type ModelLoadOptions } from '../model/index.js';
import { readDataFiles, type DataFileRow } from '../protocol/run-folder.js';
import { predictionsCsv, aucCi, pctCi, thresholdTable, weightsNote } from '../protocol/run-files.js';
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
  prevalence?: number;
  /** Feature cache; none by default. */
  cache?: FeatureCache | null;
  signal?: AbortSignal;
  limits?: Partial<LoadLimits>;
  /** Receives progress events (the library never prints). */
  onProgress?: ProgressListener;
}

/**
 * Evaluates a trained run on any dataset (e.g. an external one) at the run's own operating
 * threshold, writing metrics.json, predictions.csv and summary.md.
 */
export async function evaluateRun(opts: EvaluateRunOptions): Promise<{ out: string; metrics: EvaluationReport; failures: number; overlap: RunOverlap }> {
  const model = await loadModel(opts.run, opts);
  const run = model.runs[0];
  let set;
  try {
    const ds = await readDataset(opts.data, { positiveClass: run.record.config.positiveClass, manifest: opts.manifest });
    const items = opts.split === 'all' ? ds.items : splitOf(ds, opts.split);
    const res = await model.scoreRequests(items.map((it) => ({ file: it.file })), {
      cache: opts.cache, limits: opts.limits, onProgress: opts.onProgress, signal: opts.signal, label: `${model.info.backbone} ${opts.split} features`,
    });
    const keep = items.map((_, i) => i).filter((i) => res.ok[i]);
    const all = res.probs;
    set = {
      root: ds.root,
      items: keep.map((i) => items[i]),
      probs: Float64Array.from(keep, (i) => all[i]),
      sha256: keep.map((i) => res.sha256[i]),
      failures: res.failures,
    };
  } finally {
    await model.release();
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
  const summary = [
    `# Evaluation of ${model.info.backbone} run ${model.info.runId} on ${set.root} (${opts.split})`, '',
    'Research software, not a diagnostic device.', '', ...(w ? [w, ''] : []),
    ...(overlap.warning ? [`**Warning:** ${overlap.warning}`, ''] : []),
    `- ${metrics.n} images (${metrics.positives} COVID)${set.failures.length ? `; ${set.failures.length} unreadable file(s) skipped` : ''}`,
    `- AUC ${aucCi(metrics)} (DeLong 95% CI)`,
    `- At the run's operating threshold ${threshold.toFixed(4)} (chosen on the run's validation data): sensitivity ${pctCi(op.sensitivity)}, specificity ${pctCi(op.specificity)}`, '',
    thresholdTable(metrics), '',
  ].join('\n');
  await writeFileAtomic(join(out, 'metrics.json'), JSON.stringify({ ...metrics, overlapWithRun: overlap }, null, 1) + '\n');
  await writeFileAtomic(join(out, 'predictions.csv'), predictionsCsv(set.items, probs, threshold));
  await writeFileAtomic(join(out, 'summary.md'), summary);
  return { out, metrics, failures: set.failures.length, overlap };
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
