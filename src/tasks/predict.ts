/** `predict`: P(COVID) of image files with a trained run. */
import type { FeatureCache } from '../features/cache.js';
import type { LoadLimits } from '../input/load-image.js';
import { loadModel, type ImageInput, type ModelLoadOptions, type Prediction } from '../model/index.js';
import type { ProgressListener } from '../util/progress.js';

export type { Prediction };

/** Options of `predictFiles`. */
export interface PredictOptions extends ModelLoadOptions {
  run: string;
  files: readonly ImageInput[];
  cache?: FeatureCache | null;
  limits?: Partial<LoadLimits>;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /** false: the input gate refuses nothing; every result says so (default true). */
  gate?: boolean;
  /** Told once when the feature cache cannot be written (prediction goes on without caching). */
  warn?: (message: string) => void;
}

/**
 * Loads a run, predicts every input at its operating threshold, and releases the model. Bad files
 * get a failure entry; the others are still predicted. To predict many times, keep a
 * model from `loadModel` instead.
 */
export async function predictFiles(opts: PredictOptions): Promise<Prediction[]> {
  const model = await loadModel(opts.run, opts);
  try {
    return await model.predict(opts.files, { cache: opts.cache, limits: opts.limits, onProgress: opts.onProgress, signal: opts.signal, gate: opts.gate, warn: opts.warn });
  } finally {
    await model.release();
  }
}
