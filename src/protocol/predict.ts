import type { BackboneOptions } from '../backbone/backbone.js';
import type { FeatureCache } from '../features/cache.js';
import { extractFeatures } from '../features/extract.js';
import type { LoadLimits } from '../input/load-image.js';
import { predictProba } from '../head/index.js';
import { readRunDir } from './run-dir.js';
import { loadRunBackbone } from './run-model.js';

/** One prediction, or the reason a file could not be predicted. */
export type Prediction =
  | { file: string; probability: number; label: 'covid' | 'non'; threshold: number }
  | { file: string; error: string };

/** Options of `predict`. */
export interface PredictOptions {
  run: string;
  files: string[];
  runtime?: BackboneOptions;
  modelPath?: string;
  cache?: FeatureCache | null;
  limits?: Partial<LoadLimits>;
  quiet?: boolean;
  /** Told once when the feature cache cannot be written (prediction goes on without caching). */
  warn?: (message: string) => void;
}

/**
 * P(COVID) for each file with a trained run, labelled at the run's operating threshold.
 * Bad files get an error entry; the others are still predicted. Results keep the input order.
 */
export async function predictFiles(opts: PredictOptions): Promise<Prediction[]> {
  const run = await readRunDir(opts.run);
  const { backbone, tensor } = await loadRunBackbone(run, opts.runtime, opts.modelPath);
  try {
    const res = await extractFeatures(backbone, opts.files.map((file) => ({ file })), {
      tensor, cache: opts.cache ?? null, limits: opts.limits, quiet: opts.quiet, label: 'predict', warn: opts.warn,
    });
    const okIdx: number[] = [];
    for (let i = 0; i < opts.files.length; i++) if (res.ok[i]) okIdx.push(i);
    const dim = res.dim;
    const feats = new Float32Array(okIdx.length * dim);
    okIdx.forEach((src, dst) => feats.set(res.features!.subarray(src * dim, (src + 1) * dim), dst * dim));
    const probs = predictProba(run.head, feats);
    const threshold = run.record.threshold.value;
    const byFile = new Map(res.failures.map((f) => [f.file, f.message]));
    const out: Prediction[] = [];
    let k = 0;
    for (let i = 0; i < opts.files.length; i++) {
      if (res.ok[i]) {
        const p = probs[k++];
        out.push({ file: opts.files[i], probability: p, label: p >= threshold ? 'covid' : 'non', threshold });
      } else {
        out.push({ file: opts.files[i], error: byFile.get(opts.files[i]) ?? 'could not be read' });
      }
    }
    return out;
  } finally {
    await backbone.release();
  }
}
