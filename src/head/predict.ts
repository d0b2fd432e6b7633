import { DatasetError } from '../errors.js';
import { ConvKernel } from './conv-kernel.js';
import { createKernel, type HeadKernel } from './kernels.js';
import { mapsByPosition } from './sparse-maps.js';
import { headInputSize, type Head } from './types.js';

/** Number of samples in a contiguous feature array for this head; throws DatasetError if it does not divide. */
export function sampleCount(head: Head, features: Float32Array, what = 'features'): number {
  const size = headInputSize(head);
  const n = features.length / size;
  if (!Number.isInteger(n)) {
    throw new DatasetError(
      `${what}: ${features.length} values is not a whole number of samples of ${size} (${head.kind} head, ` +
        `${head.inChannels} channels); re-extract the features for this backbone`,
    );
  }
  return n;
}

/**
 * Eval-mode logits of every sample: out[2i] = non-COVID, out[2i+1] = COVID. `kernel` may be passed to
 * reuse its workspace (it must belong to `head`). Conv-head maps are first reduced to their nonzero
 * values in one pass over all samples (the same logits as sample by sample, faster).
 */
export function computeLogits(head: Head, features: Float32Array, out?: Float64Array, kernel?: HeadKernel): Float64Array {
  const n = sampleCount(head, features);
  const res = out ?? new Float64Array(2 * n);
  const k = kernel ?? createKernel(head);
  if (k instanceof ConvKernel && n > 1) {
    const maps = k.attach(mapsByPosition(features, n, k.channels, k.positions));
    for (let s = 0; s < n; s++) {
      k.forwardAttached(maps, s);
      res[2 * s] = k.logits[0];
      res[2 * s + 1] = k.logits[1];
    }
    return res;
  }
  for (let s = 0; s < n; s++) {
    k.forward(features, s, null);
    res[2 * s] = k.logits[0];
    res[2 * s + 1] = k.logits[1];
  }
  return res;
}

/** P(COVID) = softmax(logits)[1] for every sample of a contiguous feature set (eval mode, no dropout). */
export function predictProba(head: Head, features: Float32Array): Float64Array {
  const logits = computeLogits(head, features);
  const out = new Float64Array(logits.length / 2);
  for (let s = 0; s < out.length; s++) out[s] = 1 / (1 + Math.exp(logits[2 * s] - logits[2 * s + 1]));
  return out;
}
