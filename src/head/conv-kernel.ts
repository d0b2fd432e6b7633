/**
 * Forward and backward passes of SqueezeNet's head, Dropout(p) -> Conv2d(C, 2, 1x1) -> ReLU -> global
 * average pool, on the nonzero values of a C x H x W map grouped by position (mapsByPosition): zeros
 * add nothing, so only the nonzero values are read and, in training, only those the dropout bits
 * keep. The loops over values run in WebAssembly (conv-kernel.wat): the training forward pass
 * (recording the kept values), the backward pass over that record, and the eval pass; ReLU, pooling
 * and the loss stay in JavaScript. The forward pass with every bit set adds in the eval pass's order,
 * so it gives the same logits.
 */
import { UsageError } from '../errors.js';
import { CONV_KERNEL_WASM } from './conv-kernel-wasm.js';
import { maskLayout, type MaskLayout } from './dropout.js';
import type { HeadKernel, SampleMask } from './kernels.js';
import { softmaxLoss } from './softmax-loss.js';
import type { SparseMaps } from './sparse-maps.js';
import { headPositions, type Head } from './types.js';

interface ConvWasm {
  memory: WebAssembly.Memory;
  forward(rs: number, vals: number, cols: number, bits: number, w: number, z: number, kc: number, kv: number, ends: number, p: number): number;
  forwardAll(rs: number, vals: number, cols: number, w: number, z: number, p: number): void;
  backward(kc: number, kv: number, ends: number, d: number, gw: number, p: number): void;
  pool(z: number, p: number, out: number): void;
  relugrad(z: number, d: number, p: number, out: number): void;
}

/** Maps copied into a kernel's memory (ConvKernel.attach): byte offsets of their arrays. */
export interface AttachedMaps {
  /** Number of samples (the JavaScript arrays are not kept: they may be dropped after attach()). */
  readonly samples: number;
  readonly rs: number;
  readonly vals: number;
  readonly cols: number;
}

let wasmModule: WebAssembly.Module | null = null;

function instantiate(): ConvWasm {
  wasmModule ??= new WebAssembly.Module(Buffer.from(CONV_KERNEL_WASM, 'base64'));
  return new WebAssembly.Instance(wasmModule).exports as unknown as ConvWasm;
}

/** Byte offsets of the kernel's buffers in its WebAssembly memory (each 16-byte aligned). */
interface Layout {
  w: number; z: number; d: number; gw: number; ends: number; kc: number; kv: number; bits: number;
  /** Two f64x2 slots passing sums in and out of pool() and relugrad(). */
  out: number;
  oneRs: number; oneVals: number; oneCols: number;
  /** First free byte: attached maps go here. */
  end: number;
}

function layoutFor(c: number, p: number, maskWordsPerSample: number): Layout {
  let top = 0;
  const take = (bytes: number): number => {
    const at = top;
    top += (bytes + 15) & ~15;
    return at;
  };
  const w = take(16 * c);
  const z = take(16 * p);
  const d = take(16 * p);
  const gw = take(16 * c);
  const ends = take(4 * p);
  const kc = take(2 * c * p);
  const kv = take(4 * c * p);
  const bits = take(4 * maskWordsPerSample);
  const out = take(32);
  const oneRs = take(4 * (p + 1));
  const oneVals = take(4 * c * p);
  const oneCols = take(2 * c * p);
  return { w, z, d, gw, ends, kc, kv, bits, out, oneRs, oneVals, oneCols, end: top };
}

/** Kernel of a squeezenet-conv head. */
export class ConvKernel implements HeadKernel {
  readonly head: Head;
  readonly channels: number;
  readonly positions: number;
  readonly sampleSize: number;
  /** Layout of an element-wise mask for the dense API: one row of H x W bits per channel. */
  readonly layout: MaskLayout;
  readonly gradWeight: Float64Array;
  readonly gradBias: Float64Array;
  readonly logits = new Float64Array(2);
  private readonly g = new Float64Array(2);
  private readonly wasm: ConvWasm;
  private readonly at: Layout;
  /** Words of the dropout bits of one sample, at most (one row of C bits per position). */
  private readonly maskWordCount: number;
  /** First free byte of the memory (attached maps are appended). */
  private top: number;
  private cached: { buf: ArrayBuffer; w: Float64Array; z: Float64Array; gw: Float64Array; out: Float64Array } | null = null;
  /** Per-position counters of load(). */
  private readonly loadCounts: Int32Array;
  /** 1/(1-p) of the batch begun by beginBatch(); 0 outside a batch. */
  private batchScale = 0;

  constructor(head: Head) {
    if (head.kind !== 'squeezenet-conv') throw new UsageError(`ConvKernel: head kind ${head.kind} is not squeezenet-conv`);
    this.head = head;
    this.channels = head.inChannels;
    this.positions = headPositions(head);
    if (this.channels > 65536) throw new UsageError(`a conv head of ${this.channels} channels is too wide (at most 65536)`);
    const c = this.channels;
    const p = this.positions;
    this.sampleSize = c * p;
    this.layout = maskLayout(c, p);
    this.gradWeight = new Float64Array(head.weight.length);
    this.gradBias = new Float64Array(head.bias.length);
    this.maskWordCount = p * Math.ceil(c / 32);
    this.loadCounts = new Int32Array(p);
    this.wasm = instantiate();
    this.at = layoutFor(c, p, this.maskWordCount);
    this.top = this.at.end;
    this.reserve(this.top);
  }

  zeroGrad(): void {
    this.gradWeight.fill(0);
    this.gradBias.fill(0);
    this.views().gw.fill(0);
  }

  forward(x: Float32Array, s: number, mask: SampleMask | null): void {
    this.load(x, s, mask);
    const { oneRs, oneVals, oneCols } = this.at;
    this.evaluate(oneRs, oneVals, oneCols, mask === null ? 1 : mask.scale);
  }

  accumulate(x: Float32Array, s: number, target: number, targetWeight: number, coef: number, mask: SampleMask | null): number {
    const rs = this.load(x, s, mask);
    // every loaded value is kept: all-ones words, each row's tail bits 0
    const words = this.maskBits();
    let w = 0;
    for (let q = 0; q < this.positions; q++) {
      for (let left = rs[q + 1] - rs[q]; left > 0; left -= 32) words[w++] = left < 32 ? (1 << left) - 1 : -1;
    }
    const { oneRs, oneVals, oneCols } = this.at;
    const scale = mask === null ? 1 : mask.scale;
    this.assertNoBatch();
    const v = this.views();
    this.prepareWeights(v.w, scale);
    // the weight gradient so far, which the sample adds to
    for (let ch = 0, c = this.channels; ch < c; ch++) {
      v.gw[2 * ch] = this.gradWeight[ch];
      v.gw[2 * ch + 1] = this.gradWeight[c + ch];
    }
    const loss = this.trainSample(oneRs, oneVals, oneCols, target, targetWeight, coef, scale);
    this.copyGradient(v.gw);
    return loss;
  }

  /** Copies maps made by mapsByPosition into the kernel's memory (after any attached before). */
  attach(maps: SparseMaps): AttachedMaps {
    if (maps.rows !== this.positions || maps.rowLength !== this.channels) {
      throw new UsageError(`ConvKernel.attach: maps of ${maps.rows} positions x ${maps.rowLength} channels for a head of ${this.channels} x ${this.positions}`);
    }
    const rs = this.top;
    const vals = rs + ((4 * maps.rowStart.length + 15) & ~15);
    const cols = vals + ((4 * maps.values.length + 15) & ~15);
    this.top = cols + ((2 * maps.columns.length + 15) & ~15);
    this.reserve(this.top);
    this.i32(rs, maps.rowStart.length).set(maps.rowStart);
    this.f32(vals, maps.values.length).set(maps.values);
    this.u16(cols, maps.columns.length).set(maps.columns);
    return { samples: maps.samples, rs, vals, cols };
  }

  /** Eval-mode forward pass (no dropout) of sample s of attached maps; logits land in `logits`. */
  forwardAttached(a: AttachedMaps, s: number): void {
    this.evaluate(this.sampleRows(a, s), a.vals, a.cols, 1);
  }

  /**
   * The dropout bits read by accumulateAttached(): fill them for the sample first (fillSparseMask;
   * p = 0 gives all ones). A view into the kernel's memory, valid until the next attach().
   */
  maskBits(): Uint32Array {
    return this.u32(this.at.bits, this.maskWordCount);
  }

  /**
   * Starts a training batch on attached maps: zeroes the gradients and takes the head's current
   * weights, scaled by `scale` = 1/(1-p); accumulateAttached() uses those until the next beginBatch().
   * endBatch() puts the batch's weight gradient into gradWeight (gradBias is always current).
   */
  beginBatch(scale: number): void {
    this.zeroGrad();
    this.prepareWeights(this.views().w, scale);
    this.batchScale = scale;
  }

  /**
   * Forward + backward (see HeadKernel.accumulate) of sample s of attached maps with the batch's
   * weights, keeping the values whose bit is set in maskBits().
   */
  accumulateAttached(a: AttachedMaps, s: number, target: number, targetWeight: number, coef: number): number {
    if (this.batchScale === 0) throw new UsageError('ConvKernel.accumulateAttached: call beginBatch() first');
    return this.trainSample(this.sampleRows(a, s), a.vals, a.cols, target, targetWeight, coef, this.batchScale);
  }

  /** The weight gradient accumulated since beginBatch(), into gradWeight. */
  endBatch(): void {
    this.copyGradient(this.views().gw);
    this.batchScale = 0;
  }

  /** The dense API and the eval pass load their own weights: not inside a batch. */
  private assertNoBatch(): void {
    if (this.batchScale !== 0) throw new UsageError('ConvKernel: forward/accumulate between beginBatch() and endBatch(); end the batch first');
  }

  /** Byte offset of sample s's row starts. */
  private sampleRows(a: AttachedMaps, s: number): number {
    if (!(Number.isInteger(s) && s >= 0 && s < a.samples)) throw new UsageError(`ConvKernel: sample ${s} of ${a.samples}`);
    return a.rs + 4 * s * this.positions;
  }

  /** Eval forward in wasm, then ReLU and the mean over positions into logits. */
  private evaluate(rs: number, vals: number, cols: number, scale: number): void {
    this.assertNoBatch();
    const v = this.views();
    this.prepareWeights(v.w, scale);
    this.initZ(v.z);
    this.wasm.forwardAll(rs, vals, cols, this.at.w, this.at.z, this.positions);
    this.pool(v.out);
  }

  /** The head's weights interleaved by channel, (w0[c], w1[c]), and scaled. */
  private prepareWeights(out: Float64Array, scale: number): void {
    const c = this.channels;
    const w = this.head.weight;
    for (let ch = 0; ch < c; ch++) {
      out[2 * ch] = w[ch] * scale;
      out[2 * ch + 1] = w[c + ch] * scale;
    }
  }

  /** z = the bias of each class at every position. */
  private initZ(z: Float64Array): void {
    const b0 = this.head.bias[0];
    const b1 = this.head.bias[1];
    for (let q = 0; q < this.positions; q++) {
      z[2 * q] = b0;
      z[2 * q + 1] = b1;
    }
  }

  /** The interleaved wasm gradient into gradWeight ([2][C], torch layout). */
  private copyGradient(gw: Float64Array): void {
    const c = this.channels;
    const out = this.gradWeight;
    for (let ch = 0; ch < c; ch++) {
      out[ch] = gw[2 * ch];
      out[c + ch] = gw[2 * ch + 1];
    }
  }

  /** ReLU then global average pool of z into logits (`out`: the view of the wasm sums). */
  private pool(out: Float64Array): void {
    const p = this.positions;
    this.wasm.pool(this.at.z, p, this.at.out);
    this.logits[0] = out[0] / p;
    this.logits[1] = out[1] / p;
  }

  /**
   * Training forward + backward in wasm of the sample whose row starts are at byte `rs`, with the
   * prepared weights; the weight gradient is added to the wasm accumulator.
   */
  private trainSample(rs: number, vals: number, cols: number, target: number, targetWeight: number, coef: number, scale: number): number {
    const p = this.positions;
    const at = this.at;
    const v = this.views();
    this.initZ(v.z);
    this.wasm.forward(rs, vals, cols, at.bits, at.w, at.z, at.kc, at.kv, at.ends, p);
    const out = v.out;
    this.pool(out);
    const nll = softmaxLoss(this.logits[0], this.logits[1], target, targetWeight * coef, this.g);
    // ReLU-active positions carry the pooled gradient g / p (the bias's), times the kept values'
    // scale for the weights
    const a0 = this.g[0] / p;
    const a1 = this.g[1] / p;
    out[0] = a0;
    out[1] = a1;
    out[2] = a0 * scale;
    out[3] = a1 * scale;
    this.wasm.relugrad(at.z, at.d, p, at.out);
    this.gradBias[0] += out[0];
    this.gradBias[1] += out[1];
    this.wasm.backward(at.kc, at.kv, at.ends, at.d, at.gw, p);
    return targetWeight * nll;
  }

  /**
   * The nonzero values of dense (channel-major) sample s that `mask` keeps (all when null), grouped
   * by position in increasing channel order, into the one-sample buffers; returns their row starts.
   * Two sequential passes (count per position, then place), as mapsByPosition does.
   */
  private load(x: Float32Array, s: number, mask: SampleMask | null): Int32Array {
    const c = this.channels;
    const p = this.positions;
    const { oneRs, oneVals, oneCols } = this.at;
    const rowStart = this.i32(oneRs, p + 1);
    const values = this.f32(oneVals, this.sampleSize);
    const columns = this.u16(oneCols, this.sampleSize);
    const words = this.layout.wordsPerRow;
    const off = s * this.sampleSize;
    const next = this.loadCounts;
    next.fill(0);
    for (let ch = 0, i = off; ch < c; ch++) {
      for (let q = 0; q < p; q++, i++) {
        if (x[i] !== 0 && (mask === null || ((mask.bits[ch * words + (q >>> 5)] >>> (q & 31)) & 1) === 1)) next[q]++;
      }
    }
    for (let q = 0, at = 0; q < p; q++) {
      rowStart[q] = at;
      const count = next[q];
      next[q] = at;
      at += count;
    }
    for (let ch = 0, i = off; ch < c; ch++) {
      for (let q = 0; q < p; q++, i++) {
        if (x[i] !== 0 && (mask === null || ((mask.bits[ch * words + (q >>> 5)] >>> (q & 31)) & 1) === 1)) {
          const at = next[q]++;
          values[at] = x[i];
          columns[at] = ch;
        }
      }
    }
    rowStart[p] = next[p - 1];
    return rowStart;
  }

  /** Grows the wasm memory to at least `bytes`. */
  private reserve(bytes: number): void {
    const mem = this.wasm.memory;
    const need = Math.ceil(bytes / 65536) - mem.buffer.byteLength / 65536;
    if (need > 0) mem.grow(need);
  }

  /** Views of the per-sample buffers, made again only when the memory has grown. */
  private views(): { w: Float64Array; z: Float64Array; gw: Float64Array; out: Float64Array } {
    const buf = this.wasm.memory.buffer;
    if (this.cached === null || this.cached.buf !== buf) {
      const c = this.channels;
      const p = this.positions;
      const at = this.at;
      this.cached = { buf, w: this.f64(at.w, 2 * c), z: this.f64(at.z, 2 * p), gw: this.f64(at.gw, 2 * c), out: this.f64(at.out, 4) };
    }
    return this.cached;
  }

  private f64(at: number, n: number): Float64Array {
    return new Float64Array(this.wasm.memory.buffer, at, n);
  }

  private f32(at: number, n: number): Float32Array {
    return new Float32Array(this.wasm.memory.buffer, at, n);
  }

  private i32(at: number, n: number): Int32Array {
    return new Int32Array(this.wasm.memory.buffer, at, n);
  }

  private u32(at: number, n: number): Uint32Array {
    return new Uint32Array(this.wasm.memory.buffer, at, n);
  }

  private u16(at: number, n: number): Uint16Array {
    return new Uint16Array(this.wasm.memory.buffer, at, n);
  }
}
