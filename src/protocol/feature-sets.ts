import type { ProgressListener } from '../util/progress.js';
import type { Backbone } from '../backbone/backbone.js';
import type { DatasetItem } from '../dataset/read.js';
import type { FeatureCache } from '../features/cache.js';
import { extractFeatures, type Augmenter, type ExtractFailure } from '../features/extract.js';
import type { LoadLimits } from '../input/load-image.js';

/** Features of a list of images, aligned with the items (and augmentation variants) they came from. */
export interface FeatureSet {
  items: DatasetItem[];
  /** 0 = the original image, k > 0 = its k-th augmented copy. */
  variants: number[];
  /** n x dim, contiguous. */
  features: Float32Array;
  labels: Uint8Array;
  sha256: string[];
  dim: number;
  failures: ExtractFailure[];
}

/** How to build a feature set. */
export interface FeatureSetOptions {
  tensor: 'pooled' | 'map';
  /** Feature cache; none by default. */
  cache?: FeatureCache | null;
  /** COVID items get variants 1..factor-1 too (the paper's oversampling); 1 = originals only. */
  augmentFactor?: number;
  augmenter?: Augmenter;
  /** Non-COVID items get variants 1..factor-1 too (acquisition augmentation); 1 = originals only (the paper). */
  augmentFactorOther?: number;
  batchSize?: number;
  limits?: Partial<LoadLimits>;
  label: string;
  /** Receives progress events (the library never prints). */
  onProgress?: ProgressListener;
}

/**
 * Extracts (or reads from the cache) the features of `items`. Files that fail are dropped and
 * reported in `failures`; the rest stay aligned with their items.
 */
export async function buildFeatureSet(backbone: Backbone, items: DatasetItem[], opts: FeatureSetOptions): Promise<FeatureSet> {
  const factor = Math.max(1, opts.augmentFactor ?? 1);
  const factorOther = Math.max(1, opts.augmentFactorOther ?? 1);
  const reqItems: DatasetItem[] = [];
  const variants: number[] = [];
  for (const it of items) {
    const k = it.label === 1 ? factor : factorOther;
    for (let v = 0; v < k; v++) {
      reqItems.push(it);
      variants.push(v);
    }
  }
  const res = await extractFeatures(backbone, reqItems.map((it, i) => ({ file: it.file, variant: variants[i] })), {
    tensor: opts.tensor,
    batchSize: opts.batchSize,
    cache: opts.cache,
    augmenter: opts.augmenter,
    limits: opts.limits,
    label: opts.label,
    onProgress: opts.onProgress,
  });
  const dim = res.dim;
  const all = res.features!;
  const keep: number[] = [];
  for (let i = 0; i < reqItems.length; i++) if (res.ok[i]) keep.push(i);
  // compact valid rows in place (no second copy of a possibly large feature matrix)
  keep.forEach((src, dst) => {
    if (src !== dst) all.copyWithin(dst * dim, src * dim, (src + 1) * dim);
  });
  return {
    items: keep.map((i) => reqItems[i]),
    variants: keep.map((i) => variants[i]),
    features: all.subarray(0, keep.length * dim),
    labels: Uint8Array.from(keep, (i) => reqItems[i].label),
    sha256: keep.map((i) => res.sha256[i]),
    dim,
    failures: res.failures,
  };
}
