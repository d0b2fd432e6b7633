/**
 * Forward and backward passes of the pooled heads (`linear`, `relu-linear`: Dropout(p) -> Linear(C, 2)),
 * per sample and batched (accumulateLinearBatch, the same result bit for bit).
 */
import { maskLayout, type MaskLayout } from './dropout.js';
import type { HeadKernel, SampleMask } from './kernels.js';
import { softmaxLoss } from './softmax-loss.js';
import type { Head } from './types.js';

const dotOut = new Float64Array(2);

/**
 * [w0 . v[off:off+c], w1 . v[off:off+c]] for the two weight rows (c = w0.length), with two partial
 * sums per row (even and odd indices) so that consecutive additions do not wait on each other.
 * Returns a shared buffer.
 */
function dot2(w0: Float64Array, w1: Float64Array, v: Float32Array, off: number): Float64Array {
  const c = w0.length;
  let p0 = 0, p1 = 0, q0 = 0, q1 = 0;
  let i = 0;
  for (; i + 2 <= c; i += 2) {
    const va = v[off + i], vb = v[off + i + 1];
    p0 += w0[i] * va;
    p1 += w0[i + 1] * vb;
    q0 += w1[i] * va;
    q1 += w1[i + 1] * vb;
  }
  if (i < c) {
    const va = v[off + i];
    p0 += w0[i] * va;
    q0 += w1[i] * va;
  }
  dotOut[0] = p0 + p1;
  dotOut[1] = q0 + q1;
  return dotOut;
}

/**
 * out[outOff + i] = x[off + i] if bit i of bits[bitOff ...] is set, else 0, for i < c: a native copy,
 * then the dropped elements (the clear bits, a minority for the usual p <= 0.5) are zeroed one by one.
 */
function maskRow(x: Float32Array, off: number, bits: Uint32Array, bitOff: number, out: Float32Array, outOff: number, c: number): void {
  out.set(x.subarray(off, off + c), outOff);
  const words = (c + 31) >>> 5;
  for (let k = 0; k < words; k++) {
    const base = k << 5;
    const n = c - base;
    let d = ~bits[bitOff + k];
    if (n < 32) d &= (1 << n) - 1;
    const o = outOff + base + 31;
    while (d !== 0) {
      const low = d & -d;
      d ^= low;
      out[o - Math.clz32(low)] = 0;
    }
  }
}

/**
 * gw[0:c] += g0[i] * v[off[i] ...], gw[c:2c] += g1[i] * v[off[i] ...] for i = 0 .. count-1, each
 * element adding the terms in order of i (as count separate passes would), four rows per pass.
 */
function addOuter(gw: Float64Array, v: Float32Array, off: Int32Array, g0: Float64Array, g1: Float64Array, count: number, c: number): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const oa = off[i], ob = off[i + 1], oc = off[i + 2], od = off[i + 3];
    const a0 = g0[i], b0 = g0[i + 1], c0 = g0[i + 2], d0 = g0[i + 3];
    const a1 = g1[i], b1 = g1[i + 1], c1 = g1[i + 2], d1 = g1[i + 3];
    for (let j = 0; j < c; j++) {
      const va = v[oa + j], vb = v[ob + j], vc = v[oc + j], vd = v[od + j];
      gw[j] = gw[j] + a0 * va + b0 * vb + c0 * vc + d0 * vd;
      gw[c + j] = gw[c + j] + a1 * va + b1 * vb + c1 * vc + d1 * vd;
    }
  }
  for (; i < count; i++) {
    const o = off[i];
    const a0 = g0[i];
    const a1 = g1[i];
    for (let j = 0; j < c; j++) {
      const va = v[o + j];
      gw[j] += a0 * va;
      gw[c + j] += a1 * va;
    }
  }
}

/** Kernel of a pooled head: input C values per sample, dropout mask of one C-bit row. */
export class LinearKernel implements HeadKernel {
  readonly head: Head;
  readonly channels: number;
  readonly sampleSize: number;
  readonly layout: MaskLayout;
  readonly gradWeight: Float64Array;
  readonly gradBias: Float64Array;
  readonly logits = new Float64Array(2);
  /** d(coefficient * nll)/d(logits) of the last sample. */
  private readonly g = new Float64Array(2);
  /** The two rows of head.weight (views: Adam's in-place updates show through). */
  private readonly w0: Float64Array;
  private readonly w1: Float64Array;
  /** Masked input of the last sample; float32 holds x or 0 exactly. */
  private readonly xm: Float32Array;
  /** accumulateLinearBatch workspace: masked rows, row offsets and per-sample logit gradients. */
  private batchRows = new Float32Array(0);
  private batchOff = new Int32Array(0);
  private batchG0 = new Float64Array(0);
  private batchG1 = new Float64Array(0);

  constructor(head: Head) {
    this.head = head;
    this.channels = head.inChannels;
    this.sampleSize = this.channels;
    this.layout = maskLayout(1, this.channels);
    this.gradWeight = new Float64Array(head.weight.length);
    this.gradBias = new Float64Array(head.bias.length);
    this.xm = new Float32Array(this.channels);
    this.w0 = head.weight.subarray(0, this.channels);
    this.w1 = head.weight.subarray(this.channels, 2 * this.channels);
  }

  zeroGrad(): void {
    this.gradWeight.fill(0);
    this.gradBias.fill(0);
  }

  forward(x: Float32Array, s: number, mask: SampleMask | null): void {
    const off = s * this.channels;
    let a0: number;
    let a1: number;
    if (mask === null) {
      const r = dot2(this.w0, this.w1, x, off);
      a0 = r[0];
      a1 = r[1];
    } else {
      // kept inputs (dropped ones 0) into xm, which the backward pass reuses
      maskRow(x, off, mask.bits, 0, this.xm, 0, this.channels);
      const r = dot2(this.w0, this.w1, this.xm, 0);
      a0 = r[0] * mask.scale;
      a1 = r[1] * mask.scale;
    }
    this.logits[0] = a0 + this.head.bias[0];
    this.logits[1] = a1 + this.head.bias[1];
  }

  accumulate(x: Float32Array, s: number, target: number, targetWeight: number, coef: number, mask: SampleMask | null): number {
    this.forward(x, s, mask);
    const nll = softmaxLoss(this.logits[0], this.logits[1], target, targetWeight * coef, this.g);
    const c = this.channels;
    const gw = this.gradWeight;
    const g0 = this.g[0];
    const g1 = this.g[1];
    this.gradBias[0] += g0;
    this.gradBias[1] += g1;
    if (mask === null) {
      const off = s * c;
      for (let i = 0; i < c; i++) {
        const v = x[off + i];
        gw[i] += g0 * v;
        gw[c + i] += g1 * v;
      }
    } else {
      const s0 = g0 * mask.scale;
      const s1 = g1 * mask.scale;
      const xm = this.xm;
      for (let i = 0; i < c; i++) {
        const v = xm[i];
        gw[i] += s0 * v;
        gw[c + i] += s1 * v;
      }
    }
    return targetWeight * nll;
  }

  /**
   * accumulate() for `count` samples in one call, with the same result bit for bit: each gradient
   * element still receives the samples' terms one after another in order, but it is loaded and
   * stored once per four samples. Sample i uses dropout bits maskBits[i * wordsPerRow ...] when
   * maskBits is given. Returns the summed weighted nll.
   */
  accumulateLinearBatch(
    x: Float32Array,
    samples: ArrayLike<number>,
    count: number,
    targets: ArrayLike<number>,
    classWeights: ArrayLike<number>,
    coef: number,
    maskBits: Uint32Array | null,
    scale: number,
  ): number {
    const c = this.channels;
    if (this.batchRows.length < count * c) {
      this.batchRows = new Float32Array(count * c);
      this.batchOff = new Int32Array(count);
      this.batchG0 = new Float64Array(count);
      this.batchG1 = new Float64Array(count);
    }
    const rows = this.batchRows;
    const words = this.layout.wordsPerRow;
    const g = this.g;
    let loss = 0;
    for (let i = 0; i < count; i++) {
      const s = samples[i];
      const t = targets[s];
      let a0: number;
      let a1: number;
      if (maskBits !== null) {
        maskRow(x, s * c, maskBits, i * words, rows, i * c, c);
        const r = dot2(this.w0, this.w1, rows, i * c);
        a0 = r[0] * scale;
        a1 = r[1] * scale;
        this.batchOff[i] = i * c;
      } else {
        const r = dot2(this.w0, this.w1, x, s * c);
        a0 = r[0];
        a1 = r[1];
        this.batchOff[i] = s * c;
      }
      this.logits[0] = a0 + this.head.bias[0];
      this.logits[1] = a1 + this.head.bias[1];
      loss += classWeights[t] * softmaxLoss(this.logits[0], this.logits[1], t, classWeights[t] * coef, g);
      this.gradBias[0] += g[0];
      this.gradBias[1] += g[1];
      this.batchG0[i] = maskBits !== null ? g[0] * scale : g[0];
      this.batchG1[i] = maskBits !== null ? g[1] * scale : g[1];
    }
    addOuter(this.gradWeight, maskBits !== null ? rows : x, this.batchOff, this.batchG0, this.batchG1, count, c);
    return loss;
  }
}
