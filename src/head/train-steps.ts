/**
 * One training batch and the validation logits for each head kind, so that the training loop in
 * train.ts is the same for all of them. Dropout masks come from `dropRng` in sample order: pooled
 * heads draw a batch's masks from that stream; the conv head draws one seed per sample and the
 * sample's bits from that seed (fillSparseMask). Everything runs on the calling thread.
 */
import type { Rng } from '../util/rng.js';
import { ConvKernel } from './conv-kernel.js';
import { fillDropoutMask, fillSparseMask, maskWords, sparseMaskPlan } from './dropout.js';
import { LinearKernel } from './linear-kernel.js';
import { computeLogits } from './predict.js';
import { mapsByPosition } from './sparse-maps.js';
import { headPositions, type Head } from './types.js';

/** A head kind's training step on fixed training and validation sets. */
export interface TrainSteps {
  /** Gradient of the last batch (the arrays Adam reads). */
  readonly gradWeight: Float64Array;
  readonly gradBias: Float64Array;
  /** Forward + backward of the training samples `samples` with dropout; returns the summed weighted nll. */
  batch(samples: Int32Array, coef: number): number;
  /** Eval-mode logits of every validation sample: out[2i] non-COVID, out[2i+1] COVID. */
  valLogits(out: Float64Array): void;
}

/** Steps of a pooled head (`linear`, `relu-linear`): batched kernel, masks drawn batch by batch. */
export function linearSteps(
  head: Head, train: Float32Array, val: Float32Array, labels: Uint8Array, cw: [number, number], batchSize: number, dropRng: Rng,
): TrainSteps {
  const kernel = new LinearKernel(head);
  const valKernel = new LinearKernel(head);
  const p = head.dropout;
  const maskLen = maskWords(kernel.layout);
  const masks = p > 0 ? new Uint32Array(batchSize * maskLen) : null;
  return {
    gradWeight: kernel.gradWeight,
    gradBias: kernel.gradBias,
    batch(samples, coef) {
      kernel.zeroGrad();
      const len = samples.length;
      if (masks !== null) {
        for (let i = 0; i < len; i++) fillDropoutMask(masks.subarray(i * maskLen, (i + 1) * maskLen), kernel.layout, p, dropRng);
      }
      return kernel.accumulateLinearBatch(train, samples, len, labels, cw, coef, masks, 1 / (1 - p));
    },
    valLogits(out) {
      computeLogits(head, val, out, valKernel);
    },
  };
}

/**
 * Steps of the squeezenet-conv head: both sets are first reduced to their nonzero values, grouped by
 * position (mapsByPosition), and each sample's dropout bits cover only those.
 */
export function convSteps(
  head: Head, train: Float32Array, n: number, val: Float32Array, nVal: number, labels: Uint8Array, cw: [number, number], dropRng: Rng,
): TrainSteps {
  const c = head.inChannels;
  const positions = headPositions(head);
  const trainMaps = mapsByPosition(train, n, c, positions);
  const kernel = new ConvKernel(head);
  const trainAt = kernel.attach(trainMaps);
  const valAt = kernel.attach(mapsByPosition(val, nVal, c, positions));
  const plan = sparseMaskPlan(trainMaps);
  const p = head.dropout;
  const scale = 1 / (1 - p);
  return {
    gradWeight: kernel.gradWeight,
    gradBias: kernel.gradBias,
    batch(samples, coef) {
      kernel.beginBatch(scale);
      let loss = 0;
      for (let i = 0; i < samples.length; i++) {
        const s = samples[i];
        const y = labels[s];
        // p = 0 draws nothing and keeps every value
        fillSparseMask(kernel.maskBits(), plan, s, p, p > 0 ? dropRng.nextUint32() : 0);
        loss += kernel.accumulateAttached(trainAt, s, y, cw[y], coef);
      }
      kernel.endBatch();
      return loss;
    },
    valLogits(out) {
      for (let s = 0; s < nVal; s++) {
        kernel.forwardAttached(valAt, s);
        out[2 * s] = kernel.logits[0];
        out[2 * s + 1] = kernel.logits[1];
      }
    },
  };
}
