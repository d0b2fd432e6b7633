import { join, resolve } from 'node:path';
import type { BackboneOptions } from '../backbone/backbone.js';
import { readDataset, splitOf } from '../dataset/read.js';
import type { FeatureCache } from '../features/cache.js';
import type { LoadLimits } from '../input/load-image.js';
import { predictProba } from '../head/index.js';
import { evaluatePredictions, type EvaluationReport } from '../evaluate/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { buildFeatureSet } from './feature-sets.js';
import { readRunDir } from './run-dir.js';
import { loadRunBackbone } from './run-model.js';
import { predictionsCsv, aucCi, pctCi, thresholdTable, weightsNote } from './run-files.js';
import { sourceName } from './train-run.js';

/** Options of `evaluate`. */
export interface EvaluateRunOptions {
  run: string;
  data: string;
  manifest?: string | false;
  /** Split to evaluate; 'all' takes every image of the dataset. */
  split: string;
  /** Output folder (default <run>/evaluations/<dataset name>-<split>). */
  out?: string;
  prevalence?: number;
  runtime?: BackboneOptions;
  modelPath?: string;
  cache: FeatureCache | null;
  limits?: Partial<LoadLimits>;
  quiet?: boolean;
}

/**
 * Evaluates a trained run on any dataset (e.g. an external one) at the run's own operating
 * threshold, writing metrics.json, predictions.csv and summary.md.
 */
export async function evaluateRun(opts: EvaluateRunOptions): Promise<{ out: string; metrics: EvaluationReport; failures: number }> {
  const run = await readRunDir(opts.run);
  const ds = await readDataset(opts.data, { positiveClass: run.record.config.positiveClass, manifest: opts.manifest });
  const items = opts.split === 'all' ? ds.items : splitOf(ds, opts.split);
  const { backbone, tensor } = await loadRunBackbone(run, opts.runtime, opts.modelPath);
  let set;
  try {
    set = await buildFeatureSet(backbone, items, { tensor, cache: opts.cache, limits: opts.limits, quiet: opts.quiet, label: `${backbone.name} ${opts.split} features` });
  } finally {
    await backbone.release();
  }
  const probs = predictProba(run.head, set.features);
  const threshold = run.record.threshold.value;
  const cfg = run.record.config;
  const metrics = evaluatePredictions(
    {
      probs,
      labels: set.labels,
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
      prevalence: opts.prevalence ?? set.labels.reduce((s, v) => s + v, 0) / Math.max(1, set.labels.length),
    },
  );
  const name = `${ds.root.replace(/[\\/]+$/, '').split(/[\\/]/).pop()}-${opts.split}`;
  const out = resolve(opts.out ?? join(run.dir, 'evaluations', name));
  const w = weightsNote(run.record);
  const op = metrics.operatingPoint;
  const summary = [
    `# Evaluation of run ${run.record.id} on ${ds.root} (${opts.split})`, '',
    'Research software, not a diagnostic device.', '', ...(w ? [w, ''] : []),
    `- ${metrics.n} images (${metrics.positives} COVID)${set.failures.length ? `; ${set.failures.length} unreadable file(s) skipped` : ''}`,
    `- AUC ${aucCi(metrics)} (DeLong 95% CI)`,
    `- At the run's operating threshold ${threshold.toFixed(4)} (chosen on the run's validation data): sensitivity ${pctCi(op.sensitivity)}, specificity ${pctCi(op.specificity)}`, '',
    thresholdTable(metrics), '',
  ].join('\n');
  await writeFileAtomic(join(out, 'metrics.json'), JSON.stringify(metrics, null, 1) + '\n');
  await writeFileAtomic(join(out, 'predictions.csv'), predictionsCsv(set.items, probs, threshold));
  await writeFileAtomic(join(out, 'summary.md'), summary);
  return { out, metrics, failures: set.failures.length };
}
