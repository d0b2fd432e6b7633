import { DatasetError } from '../errors.js';
import { createKernel, type HeadKernel } from './kernels.js';
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
 * reuse its workspace (it must belong to `head`).
 */
export function computeLogits(head: Head, features: Float32Array, out?: Float64Array, kernel?: HeadKernel): Float64Array {
  const n = sampleCount(head, features);
  const res = out ?? new Float64Array(2 * n);
  const k = kernel ?? createKernel(head);
  for (let s = 0; s < n; s++) {
    k.forward(features, s, null);
    res[2 * s] = k.logits[0];
    res[2 * s + 1] = k.logits[1];
  }
  return res;
}

/** P(COVID) = softmax(logits)[1] for every sample of a contiguous feature set (eval mode, no dropout). */
export function predictProba(head: Head, features: Float32Array): Float64Array {
  const n = sampleCount(head, features);
  const out = new Float64Array(n);
  const k = createKernel(head);
  for (let s = 0; s < n; s++) {
    k.forward(features, s, null);
    out[s] = 1 / (1 + Math.exp(k.logits[0] - k.logits[1]));
  }
  return out;
}
