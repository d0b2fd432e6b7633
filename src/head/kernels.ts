/**
 * Per-sample forward and backward passes of the heads, on preallocated buffers. Forward and backward
 * of one sample run back to back while its features are in cache; the loss gradient is known per
 * sample because the batch normaliser (sum of target weights) is fixed before the batch starts.
 */
import { maskLayout, type MaskLayout } from './dropout.js';
import { headPositions, type Head } from './types.js';

/** Training-time dropout for one sample: kept-bit mask and the 1/(1-p) scale. */
export interface SampleMask {
  bits: Uint32Array;
  scale: number;
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
    const l0 = this.logits[0];
    const l1 = this.logits[1];
    // log-softmax, stable
    const m = l0 > l1 ? l0 : l1;
    const e0 = Math.exp(l0 - m);
    const e1 = Math.exp(l1 - m);
    const sum = e0 + e1;
    const lse = m + Math.log(sum);
    const nll = lse - (target === 1 ? l1 : l0);
    const g = targetWeight * coef;
    const g0 = g * (e0 / sum - (target === 0 ? 1 : 0));
    const g1 = g * (e1 / sum - (target === 1 ? 1 : 0));
    if (this.head.kind === 'squeezenet-conv') this.convBackward(x, s * this.sampleSize, mask, g0, g1);
    else this.linearBackward(x, s * this.sampleSize, mask, g0, g1);
    return targetWeight * nll;
  }

  private linearForward(x: Float32Array, off: number, mask: SampleMask | null): void {
    const c = this.channels;
    const w = this.head.weight;
    let a0 = 0;
    let a1 = 0;
    if (mask === null) {
      for (let i = 0; i < c; i++) {
        const v = x[off + i];
        a0 += w[i] * v;
        a1 += w[c + i] * v;
      }
    } else {
      const bits = mask.bits;
      const words = this.layout.wordsPerRow;
      for (let k = 0; k < words; k++) {
        let b = bits[k] | 0;
        const base = k << 5;
        while (b !== 0) {
          const low = b & -b;
          b ^= low;
          const i = base + 31 - Math.clz32(low);
          const v = x[off + i];
          a0 += w[i] * v;
          a1 += w[c + i] * v;
        }
      }
      a0 *= mask.scale;
      a1 *= mask.scale;
    }
    this.logits[0] = a0 + this.head.bias[0];
    this.logits[1] = a1 + this.head.bias[1];
  }

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
    const bits = mask.bits;
    const words = this.layout.wordsPerRow;
    for (let k = 0; k < words; k++) {
      let b = bits[k] | 0;
      const base = k << 5;
      while (b !== 0) {
        const low = b & -b;
        b ^= low;
        const i = base + 31 - Math.clz32(low);
        const v = x[off + i];
        gw[i] += s0 * v;
        gw[c + i] += s1 * v;
      }
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
    for (let ch = 0; ch < c; ch++) {
      const a0 = w[ch] * s;
      const a1 = w[c + ch] * s;
      const xb = off + ch * p;
      const mb = ch * words;
      for (let k = 0; k < words; k++) {
        let b = bits[mb + k] | 0;
        const base = k << 5;
        while (b !== 0) {
          const low = b & -b;
          b ^= low;
          const q = base + 31 - Math.clz32(low);
          const v = x[xb + q];
          z0[q] += a0 * v;
          z1[q] += a1 * v;
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
