/**
 * One interface over the heads' per-sample forward and backward passes: LinearKernel (pooled
 * vectors: `linear`, `relu-linear`) and ConvKernel (SqueezeNet's 1x1 conv on C x H x W maps). Both
 * work on preallocated buffers and read the head's parameters live, so Adam can update them in place.
 */
import { ConvKernel } from './conv-kernel.js';
import type { MaskLayout } from './dropout.js';
import { LinearKernel } from './linear-kernel.js';
import type { Head } from './types.js';

/** Training-time dropout for one sample: kept-bit mask (layout: the kernel's `layout`) and the 1/(1-p) scale. */
export interface SampleMask {
  bits: Uint32Array;
  scale: number;
}

/** Forward/backward workspace of one head. */
export interface HeadKernel {
  readonly head: Head;
  /** float32 values per sample of the head's input. */
  readonly sampleSize: number;
  /** Layout of an element-wise dropout mask for one sample. */
  readonly layout: MaskLayout;
  /** Gradient accumulators, same layout as head.weight / head.bias. */
  readonly gradWeight: Float64Array;
  readonly gradBias: Float64Array;
  /** Logits of the last forward(). */
  readonly logits: Float64Array;
  /** Sets the gradient accumulators to zero. */
  zeroGrad(): void;
  /** Forward pass of sample `s` of `x` (eval mode when mask is null); logits land in `logits`. */
  forward(x: Float32Array, s: number, mask: SampleMask | null): void;
  /**
   * Forward + backward of sample `s` with target class `target`: adds coef * d(w_t * nll)/d(params)
   * to the gradient, where coef is the batch normaliser 1/sum(w_t), and returns w_t * nll
   * (unnormalised) for the loss.
   */
  accumulate(x: Float32Array, s: number, target: number, targetWeight: number, coef: number, mask: SampleMask | null): number;
}

/** The kernel of a head's kind. */
export function createKernel(head: Head): HeadKernel {
  return head.kind === 'squeezenet-conv' ? new ConvKernel(head) : new LinearKernel(head);
}
