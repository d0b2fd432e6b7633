/**
 * Per-sample forward and backward passes of the heads, on preallocated buffers. Forward and backward
 * of one sample run back to back while its features are in cache; the loss gradient is known per
 * sample because the batch normaliser (sum of target weights) is fixed before the batch starts.
 * Pooled heads also have a batched form (accumulateLinearBatch) with the same result bit for bit.
 * The conv head walks only the set bits of its masks, so callers may AND the dropout mask with a
 * bitmap of the nonzero inputs (zeros contribute nothing) to skip the zeros of post-ReLU maps.
 */
import { UsageError } from '../errors.js';
import { maskLayout, type MaskLayout } from './dropout.js';
import { headPositions, type Head } from './types.js';

/** Training-time dropout for one sample: kept-bit mask and the 1/(1-p) scale. */
export interface SampleMask {
  bits: Uint32Array;
  scale: number;
}

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

/** Forward/backward workspace of one head. Reads the head's parameters live, so Adam can update them in place. */
export class HeadKernel {
  readonly head: Head;
  readonly channels: number;
  readonly positions: number;
  readonly sampleSize: number;
  /** Layout of a dropout mask for one sample. */
  readonly layout: MaskLayout;
  /** Gradient accumulators, same layout as head.weight / head.bias. */
  readonly gradWeight: Float64Array;
  readonly gradBias: Float64Array;
  /** Last computed logits (forward()). */
  readonly logits = new Float64Array(2);
  private readonly z0: Float64Array;
  private readonly z1: Float64Array;
  private readonly d0: Float64Array;
  private readonly d1: Float64Array;
  private readonly active: Int32Array;
  private readonly activeBits: Int32Array;
  /** The two rows of head.weight (views: Adam's in-place updates show through). */
  private readonly w0: Float64Array;
  private readonly w1: Float64Array;
  /** Masked input of the last linear sample (pooled heads only); float32 holds x or 0 exactly. */
  private readonly xm: Float32Array;
  /** Loss gradient w.r.t. the logits of the last sample (lossGradient()). */
  private g0 = 0;
  private g1 = 0;
  /** accumulateLinearBatch workspace: masked rows, row offsets and per-sample logit gradients. */
  private batchRows = new Float32Array(0);
  private batchOff = new Int32Array(0);
  private batchG0 = new Float64Array(0);
  private batchG1 = new Float64Array(0);

  constructor(head: Head) {
    this.head = head;
    this.channels = head.inChannels;
    this.positions = headPositions(head);
    this.sampleSize = this.channels * this.positions;
    const pooled = head.kind !== 'squeezenet-conv';
    this.layout = pooled ? maskLayout(1, this.channels) : maskLayout(this.channels, this.positions);
    this.gradWeight = new Float64Array(head.weight.length);
    this.gradBias = new Float64Array(head.bias.length);
    const p = this.positions;
    this.z0 = new Float64Array(p);
    this.z1 = new Float64Array(p);
    this.d0 = new Float64Array(p);
    this.d1 = new Float64Array(p);
    this.active = new Int32Array(p);
    this.activeBits = new Int32Array(this.layout.wordsPerRow);
    this.xm = new Float32Array(pooled ? this.channels : 0);
    this.w0 = head.weight.subarray(0, this.channels);
    this.w1 = head.weight.subarray(this.channels, 2 * this.channels);
  }

  /** Sets the gradient accumulators to zero. */
  zeroGrad(): void {
    this.gradWeight.fill(0);
    this.gradBias.fill(0);
  }

  /**
   * Forward pass of sample `s` of `x` (eval mode when mask is null); logits land in `this.logits`.
   */
  forward(x: Float32Array, s: number, mask: SampleMask | null): void {
    if (this.head.kind === 'squeezenet-conv') this.convForward(x, s * this.sampleSize, mask);
    else this.linearForward(x, s * this.sampleSize, mask);
  }

  /**
   * Forward + backward of sample `s` with target class `target`. Adds
   * coef * d(w_t * nll)/d(params) to the gradient, where coef is the batch normaliser 1/sum(w_t),
   * and returns w_t * nll (unnormalised) for the loss.
   */
  accumulate(x: Float32Array, s: number, target: number, targetWeight: number, coef: number, mask: SampleMask | null): number {
    this.forward(x, s, mask);
    const nll = this.lossGradient(target, targetWeight * coef);
    if (this.head.kind === 'squeezenet-conv') this.convBackward(x, s * this.sampleSize, mask, this.g0, this.g1);
    else this.linearBackward(x, s * this.sampleSize, mask, this.g0, this.g1);
    return targetWeight * nll;
  }

  /**
   * accumulate() for `count` samples of a pooled (linear) head in one call, with the same result bit
   * for bit: each gradient element still receives the samples' terms one after another in order,
   * but it is loaded and stored once per four samples. Sample i uses dropout bits
   * maskBits[i * wordsPerRow ...] when maskBits is given. Returns the summed weighted nll.
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
    if (this.head.kind === 'squeezenet-conv') throw new UsageError('accumulateLinearBatch: the squeezenet-conv head has no batched path; use accumulate()');
    if (this.batchRows.length < count * c) {
      this.batchRows = new Float32Array(count * c);
      this.batchOff = new Int32Array(count);
      this.batchG0 = new Float64Array(count);
      this.batchG1 = new Float64Array(count);
    }
    const rows = this.batchRows;
    const words = this.layout.wordsPerRow;
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
      loss += classWeights[t] * this.lossGradient(t, classWeights[t] * coef);
      this.gradBias[0] += this.g0;
      this.gradBias[1] += this.g1;
      this.batchG0[i] = maskBits !== null ? this.g0 * scale : this.g0;
      this.batchG1[i] = maskBits !== null ? this.g1 * scale : this.g1;
    }
    addOuter(this.gradWeight, maskBits !== null ? rows : x, this.batchOff, this.batchG0, this.batchG1, count, c);
    return loss;
  }

  /** From this.logits: the nll of `target`, and g = d(coefficient * nll)/d(logits) into g0/g1. */
  private lossGradient(target: number, coefficient: number): number {
    const l0 = this.logits[0];
    const l1 = this.logits[1];
    // log-softmax, stable
    const m = l0 > l1 ? l0 : l1;
    const e0 = Math.exp(l0 - m);
    const e1 = Math.exp(l1 - m);
    const sum = e0 + e1;
    const lse = m + Math.log(sum);
    this.g0 = coefficient * (e0 / sum - (target === 0 ? 1 : 0));
    this.g1 = coefficient * (e1 / sum - (target === 1 ? 1 : 0));
    return lse - (target === 1 ? l1 : l0);
  }

  private linearForward(x: Float32Array, off: number, mask: SampleMask | null): void {
    const c = this.channels;
    let a0 = 0;
    let a1 = 0;
    if (mask === null) {
      const r = dot2(this.w0, this.w1, x, off);
      a0 = r[0];
      a1 = r[1];
    } else {
      // kept inputs (dropped ones 0) into xm, which the backward pass reuses
      maskRow(x, off, mask.bits, 0, this.xm, 0, c);
      const r = dot2(this.w0, this.w1, this.xm, 0);
      a0 = r[0] * mask.scale;
      a1 = r[1] * mask.scale;
    }
    this.logits[0] = a0 + this.head.bias[0];
    this.logits[1] = a1 + this.head.bias[1];
  }

  /** Backward after linearForward of the same sample (xm holds its masked input when mask is set). */
  private linearBackward(x: Float32Array, off: number, mask: SampleMask | null, g0: number, g1: number): void {
    const c = this.channels;
    const gw = this.gradWeight;
    this.gradBias[0] += g0;
    this.gradBias[1] += g1;
    if (mask === null) {
      for (let i = 0; i < c; i++) {
        const v = x[off + i];
        gw[i] += g0 * v;
        gw[c + i] += g1 * v;
      }
      return;
    }
    const s0 = g0 * mask.scale;
    const s1 = g1 * mask.scale;
    const xm = this.xm;
    for (let i = 0; i < c; i++) {
      const v = xm[i];
      gw[i] += s0 * v;
      gw[c + i] += s1 * v;
    }
  }

  private convForward(x: Float32Array, off: number, mask: SampleMask | null): void {
    const p = this.positions;
    const z0 = this.z0;
    const z1 = this.z1;
    z0.fill(this.head.bias[0]);
    z1.fill(this.head.bias[1]);
    if (mask === null) this.convDense(x, off);
    else this.convMasked(x, off, mask);
    // ReLU then global average pool
    let s0 = 0;
    let s1 = 0;
    for (let q = 0; q < p; q++) {
      if (z0[q] > 0) s0 += z0[q];
      if (z1[q] > 0) s1 += z1[q];
    }
    this.logits[0] = s0 / p;
    this.logits[1] = s1 / p;
  }

  /** z += W x without dropout; four channels per pass so that z is loaded and stored 4x less often. */
  private convDense(x: Float32Array, off: number): void {
    const c = this.channels;
    const p = this.positions;
    const w = this.head.weight;
    const z0 = this.z0;
    const z1 = this.z1;
    let ch = 0;
    for (; ch + 4 <= c; ch += 4) {
      const a0 = w[ch], b0 = w[ch + 1], c0 = w[ch + 2], e0 = w[ch + 3];
      const a1 = w[c + ch], b1 = w[c + ch + 1], c1 = w[c + ch + 2], e1 = w[c + ch + 3];
      const xa = off + ch * p, xb = xa + p, xc = xb + p, xd = xc + p;
      for (let q = 0; q < p; q++) {
        const va = x[xa + q], vb = x[xb + q], vc = x[xc + q], vd = x[xd + q];
        z0[q] += a0 * va + b0 * vb + c0 * vc + e0 * vd;
        z1[q] += a1 * va + b1 * vb + c1 * vc + e1 * vd;
      }
    }
    for (; ch < c; ch++) {
      const a0 = w[ch], a1 = w[c + ch];
      const xa = off + ch * p;
      for (let q = 0; q < p; q++) {
        const va = x[xa + q];
        z0[q] += a0 * va;
        z1[q] += a1 * va;
      }
    }
  }

  /**
   * z += W (m * x) * scale with the dropout bits: walks only the kept positions of each channel
   * (lowest set bit first), skipping the dropped half without branches on random data.
   */
  private convMasked(x: Float32Array, off: number, mask: SampleMask): void {
    const c = this.channels;
    const p = this.positions;
    const words = this.layout.wordsPerRow;
    const w = this.head.weight;
    const bits = mask.bits;
    const s = mask.scale;
    const z0 = this.z0;
    const z1 = this.z1;
    for (let ch = 0, xb = off, mb = 0; ch < c; ch++, xb += p, mb += words) {
      const a0 = w[ch] * s;
      const a1 = w[c + ch] * s;
      for (let k = 0; k < words; k++) {
        let b = bits[mb + k] | 0;
        const base = k << 5;
        const xq = xb + base;
        // highest set bit first: j = 31 - clz32(b)
        while (b !== 0) {
          const j = 31 - Math.clz32(b);
          b ^= 1 << j;
          const v = x[xq + j];
          z0[base + j] += a0 * v;
          z1[base + j] += a1 * v;
        }
      }
    }
  }

  /**
   * Backward after convForward of the same sample (z0/z1 still hold its pre-ReLU values). Only
   * positions where a ReLU passes gradient are visited (gathered through an index list).
   */
  private convBackward(x: Float32Array, off: number, mask: SampleMask | null, g0: number, g1: number): void {
    const c = this.channels;
    const p = this.positions;
    const z0 = this.z0;
    const z1 = this.z1;
    const act = this.active;
    const d0 = this.d0;
    const d1 = this.d1;
    const a0 = g0 / p;
    const a1 = g1 / p;
    if (mask !== null) {
      this.convBackwardMasked(x, off, mask, a0, a1);
      return;
    }
    let n = 0;
    let gb0 = 0;
    let gb1 = 0;
    for (let q = 0; q < p; q++) {
      const on0 = z0[q] > 0;
      const on1 = z1[q] > 0;
      if (on0) gb0 += a0;
      if (on1) gb1 += a1;
      if (on0 || on1) {
        act[n] = q;
        d0[n] = on0 ? a0 : 0;
        d1[n] = on1 ? a1 : 0;
        n++;
      }
    }
    this.gradBias[0] += gb0;
    this.gradBias[1] += gb1;
    if (n === 0) return;
    // no dropout: four channels per pass, gathering the active positions
    const gw = this.gradWeight;
    let ch = 0;
    for (; ch + 4 <= c; ch += 4) {
      const ra = off + ch * p, rb = ra + p, rc = rb + p, rd = rc + p;
      let sa0 = 0, sb0 = 0, sc0 = 0, sd0 = 0, sa1 = 0, sb1 = 0, sc1 = 0, sd1 = 0;
      for (let k = 0; k < n; k++) {
        const q = act[k];
        const va = x[ra + q], vb = x[rb + q], vc = x[rc + q], vd = x[rd + q];
        const e0 = d0[k], e1 = d1[k];
        sa0 += e0 * va;
        sb0 += e0 * vb;
        sc0 += e0 * vc;
        sd0 += e0 * vd;
        sa1 += e1 * va;
        sb1 += e1 * vb;
        sc1 += e1 * vc;
        sd1 += e1 * vd;
      }
      gw[ch] += sa0;
      gw[ch + 1] += sb0;
      gw[ch + 2] += sc0;
      gw[ch + 3] += sd0;
      gw[c + ch] += sa1;
      gw[c + ch + 1] += sb1;
      gw[c + ch + 2] += sc1;
      gw[c + ch + 3] += sd1;
    }
    for (; ch < c; ch++) {
      const ra = off + ch * p;
      let sa0 = 0, sa1 = 0;
      for (let k = 0; k < n; k++) {
        const va = x[ra + act[k]];
        sa0 += d0[k] * va;
        sa1 += d1[k] * va;
      }
      gw[ch] += sa0;
      gw[c + ch] += sa1;
    }
  }

  /**
   * Backward with dropout: per channel, walks the positions that are both kept and ReLU-active
   * (AND of the mask bits with the active bits), so dropped and inactive positions cost nothing.
   */
  private convBackwardMasked(x: Float32Array, off: number, mask: SampleMask, a0: number, a1: number): void {
    const c = this.channels;
    const p = this.positions;
    const words = this.layout.wordsPerRow;
    const z0 = this.z0;
    const z1 = this.z1;
    const d0 = this.d0;
    const d1 = this.d1;
    const activeBits = this.activeBits;
    activeBits.fill(0);
    let gb0 = 0;
    let gb1 = 0;
    let any = false;
    for (let q = 0; q < p; q++) {
      const on0 = z0[q] > 0;
      const on1 = z1[q] > 0;
      d0[q] = on0 ? a0 : 0;
      d1[q] = on1 ? a1 : 0;
      if (on0) gb0 += a0;
      if (on1) gb1 += a1;
      if (on0 || on1) {
        activeBits[q >>> 5] |= 1 << (q & 31);
        any = true;
      }
    }
    this.gradBias[0] += gb0;
    this.gradBias[1] += gb1;
    if (!any) return;
    const bits = mask.bits;
    const scale = mask.scale;
    const gw = this.gradWeight;
    for (let ch = 0; ch < c; ch++) {
      const xb = off + ch * p;
      const mb = ch * words;
      let s0 = 0;
      let s1 = 0;
      for (let k = 0; k < words; k++) {
        let b = bits[mb + k] & activeBits[k];
        const base = k << 5;
        while (b !== 0) {
          const low = b & -b;
          b ^= low;
          const q = base + 31 - Math.clz32(low);
          const v = x[xb + q];
          s0 += d0[q] * v;
          s1 += d1[q] * v;
        }
      }
      gw[ch] += s0 * scale;
      gw[c + ch] += s1 * scale;
    }
  }
}
