/**
 * Forward and backward passes of SqueezeNet's head, Dropout(p) -> Conv2d(C, 2, 1x1) -> ReLU -> global
 * average pool, on the nonzero values of a C x H x W map (SparseMaps): zeros add nothing, so only
 * the nonzero values are read and, in training, only those the dropout bits keep. The training loops
 * (forward over the kept values, recording them; backward over that record) and the eval pass run
 * in WebAssembly (conv-kernel.wat), about twice as fast as the same loops in JavaScript; the
 * per-position steps (ReLU, pooling, loss) stay in JavaScript. The forward pass with every bit set
 * adds in the eval pass's order, so it gives the same logits.
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
  forward(rs: number, vals: number, pos: number, bits: number, w: number, z: number, kq: number, kv: number, ends: number, c: number, scale: number): number;
  forwardAll(rs: number, vals: number, pos: number, w: number, z: number, c: number, scale: number): void;
  backward(kq: number, kv: number, ends: number, d: number, gw: number, c: number, scale: number): void;
}

/** Maps copied into a kernel's memory (ConvKernel.attach): byte offsets of their arrays. */
export interface AttachedMaps {
  readonly maps: SparseMaps;
  readonly rs: number;
  readonly vals: number;
  readonly pos: number;
}

let wasmModule: WebAssembly.Module | null = null;

function instantiate(): ConvWasm {
  wasmModule ??= new WebAssembly.Module(Buffer.from(CONV_KERNEL_WASM, 'base64'));
  return new WebAssembly.Instance(wasmModule).exports as unknown as ConvWasm;
}

/** Byte offsets of the kernel's buffers in its WebAssembly memory (each 16-byte aligned). */
interface Layout {
  w: number; z: number; d: number; gw: number; ends: number; kq: number; kv: number; bits: number;
  oneRs: number; oneVals: number; onePos: number;
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
  const ends = take(4 * c);
  const kq = take(2 * c * p);
  const kv = take(4 * c * p);
  const bits = take(4 * maskWordsPerSample);
  const oneRs = take(4 * (c + 1));
  const oneVals = take(4 * c * p);
  const onePos = take(2 * c * p);
  return { w, z, d, gw, ends, kq, kv, bits, oneRs, oneVals, onePos, end: top };
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
  /** First free byte of the memory (attached maps are appended). */
  private top: number;
  private cached: { buf: ArrayBuffer; w: Float64Array; z: Float64Array; d: Float64Array; gw: Float64Array } | null = null;

  constructor(head: Head) {
    if (head.kind !== 'squeezenet-conv') throw new UsageError(`ConvKernel: head kind ${head.kind} is not squeezenet-conv`);
    this.head = head;
    this.channels = head.inChannels;
    this.positions = headPositions(head);
    if (this.positions > 65536) throw new UsageError(`feature maps of ${this.positions} positions per channel are too large for the conv head (at most 65536)`);
    const c = this.channels;
    const p = this.positions;
    this.sampleSize = c * p;
    this.layout = maskLayout(c, p);
    this.gradWeight = new Float64Array(head.weight.length);
    this.gradBias = new Float64Array(head.bias.length);
    this.wasm = instantiate();
    this.at = layoutFor(c, p, c * this.layout.wordsPerRow);
    this.top = this.at.end;
    this.reserve(this.top);
  }

  zeroGrad(): void {
    this.gradWeight.fill(0);
    this.gradBias.fill(0);
    this.views().gw.fill(0);
  }

  forward(x: Float32Array, s: number, mask: SampleMask | null): void {
    const { oneRs, oneVals, onePos } = this.at;
    const sp = this.sampleSize;
    this.load(x, s, mask, this.f32(oneVals, sp), this.u16(onePos, sp), this.i32(oneRs, this.channels + 1));
    this.evaluate(oneRs, oneVals, onePos, mask === null ? 1 : mask.scale);
  }

  accumulate(x: Float32Array, s: number, target: number, targetWeight: number, coef: number, mask: SampleMask | null): number {
    const { oneRs, oneVals, onePos } = this.at;
    const c = this.channels;
    const sp = this.sampleSize;
    const rs = this.i32(oneRs, c + 1);
    this.load(x, s, mask, this.f32(oneVals, sp), this.u16(onePos, sp), rs);
    // every loaded value is kept: all-ones words, each row's tail bits 0
    const words = this.maskBits();
    let w = 0;
    for (let ch = 0; ch < c; ch++) {
      for (let left = rs[ch + 1] - rs[ch]; left > 0; left -= 32) words[w++] = left < 32 ? (1 << left) - 1 : -1;
    }
    return this.train(oneRs, oneVals, onePos, target, targetWeight, coef, mask === null ? 1 : mask.scale);
  }

  /** Copies `maps` into the kernel's memory (after any attached before) for the *Attached methods. */
  attach(maps: SparseMaps): AttachedMaps {
    if (maps.rows !== this.channels || maps.rowLength !== this.positions) {
      throw new UsageError(`ConvKernel.attach: maps of ${maps.rows} x ${maps.rowLength} for a head of ${this.channels} x ${this.positions}`);
    }
    const rs = this.top;
    const vals = rs + ((4 * maps.rowStart.length + 15) & ~15);
    const pos = vals + ((4 * maps.values.length + 15) & ~15);
    this.top = pos + ((2 * maps.positions.length + 15) & ~15);
    this.reserve(this.top);
    this.i32(rs, maps.rowStart.length).set(maps.rowStart);
    this.f32(vals, maps.values.length).set(maps.values);
    this.u16(pos, maps.positions.length).set(maps.positions);
    return { maps, rs, vals, pos };
  }

  /** Eval-mode forward pass (no dropout) of sample s of attached maps; logits land in `logits`. */
  forwardAttached(a: AttachedMaps, s: number): void {
    this.evaluate(this.sampleRows(a, s), a.vals, a.pos, 1);
  }

  /**
   * The dropout bits read by accumulateAttached(): fill them for the sample first (fillSparseMask;
   * p = 0 gives all ones). A view into the kernel's memory, valid until the next attach().
   */
  maskBits(): Uint32Array {
    return this.u32(this.at.bits, this.channels * this.layout.wordsPerRow);
  }

  /**
   * Forward + backward (see HeadKernel.accumulate) of sample s of attached maps, keeping the values
   * whose bit is set in maskBits(); `scale` is 1/(1-p).
   */
  accumulateAttached(a: AttachedMaps, s: number, target: number, targetWeight: number, coef: number, scale: number): number {
    return this.train(this.sampleRows(a, s), a.vals, a.pos, target, targetWeight, coef, scale);
  }

  /** Byte offset of sample s's row starts. */
  private sampleRows(a: AttachedMaps, s: number): number {
    if (!(Number.isInteger(s) && s >= 0 && s < a.maps.samples)) throw new UsageError(`ConvKernel: sample ${s} of ${a.maps.samples}`);
    return a.rs + 4 * s * this.channels;
  }

  /** Eval forward in wasm, then ReLU and the mean over positions into logits. */
  private evaluate(rs: number, vals: number, pos: number, scale: number): void {
    const v = this.views();
    v.w.set(this.head.weight);
    this.initZ(v.z);
    this.wasm.forwardAll(rs, vals, pos, this.at.w, this.at.z, this.channels, scale);
    this.pool(v.z);
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

  /** ReLU then global average pool of z into logits. */
  private pool(z: Float64Array): void {
    const p = this.positions;
    let s0 = 0;
    let s1 = 0;
    for (let q = 0; q < p; q++) {
      if (z[2 * q] > 0) s0 += z[2 * q];
      if (z[2 * q + 1] > 0) s1 += z[2 * q + 1];
    }
    this.logits[0] = s0 / p;
    this.logits[1] = s1 / p;
  }

  /** Training forward + backward in wasm of the sample whose row starts are at byte `rs`. */
  private train(rs: number, vals: number, pos: number, target: number, targetWeight: number, coef: number, scale: number): number {
    const c = this.channels;
    const p = this.positions;
    const at = this.at;
    const v = this.views();
    v.w.set(this.head.weight);
    const z = v.z;
    this.initZ(z);
    this.wasm.forward(rs, vals, pos, at.bits, at.w, at.z, at.kq, at.kv, at.ends, c, scale);
    this.pool(z);
    const nll = softmaxLoss(this.logits[0], this.logits[1], target, targetWeight * coef, this.g);
    // ReLU-active positions carry the pooled gradient g / p
    const a0 = this.g[0] / p;
    const a1 = this.g[1] / p;
    const d = v.d;
    let gb0 = 0;
    let gb1 = 0;
    let any = false;
    for (let q = 0; q < p; q++) {
      const on0 = z[2 * q] > 0;
      const on1 = z[2 * q + 1] > 0;
      d[2 * q] = on0 ? a0 : 0;
      d[2 * q + 1] = on1 ? a1 : 0;
      if (on0) gb0 += a0;
      if (on1) gb1 += a1;
      any ||= on0 || on1;
    }
    this.gradBias[0] += gb0;
    this.gradBias[1] += gb1;
    if (any) {
      this.wasm.backward(at.kq, at.kv, at.ends, at.d, at.gw, c, scale);
      this.gradWeight.set(v.gw);
    }
    return targetWeight * nll;
  }

  /**
   * The nonzero values of dense sample s that `mask` keeps (all when null), row by row, into arrays
   * with room for every value of a sample (each value is written at the next free slot, k <= i).
   */
  private load(x: Float32Array, s: number, mask: SampleMask | null, values: Float32Array, positions: Uint16Array, rowStart: Int32Array): void {
    const c = this.channels;
    const p = this.positions;
    const words = this.layout.wordsPerRow;
    const off = s * this.sampleSize;
    // the float's bits with the sign cleared are 0 exactly for +0 and -0; branch-free, because
    // zeros are scattered at random in post-ReLU maps
    const bits = new Int32Array(x.buffer, x.byteOffset + 4 * off, this.sampleSize);
    let k = 0;
    for (let ch = 0, i = 0; ch < c; ch++) {
      rowStart[ch] = k;
      for (let q = 0; q < p; q++, i++) {
        const m = bits[i] & 0x7fffffff;
        let keep = (m | -m) >>> 31;
        if (mask !== null) keep &= mask.bits[ch * words + (q >>> 5)] >>> (q & 31);
        values[k] = x[off + i];
        positions[k] = q;
        k += keep;
      }
    }
    rowStart[c] = k;
  }

  /** Grows the wasm memory to at least `bytes`. */
  private reserve(bytes: number): void {
    const mem = this.wasm.memory;
    const need = Math.ceil(bytes / 65536) - mem.buffer.byteLength / 65536;
    if (need > 0) mem.grow(need);
  }

  private f64(at: number, n: number): Float64Array {
    return new Float64Array(this.wasm.memory.buffer, at, n);
  }

  /** Views of the per-sample buffers, made again only when the memory has grown. */
  private views(): { w: Float64Array; z: Float64Array; d: Float64Array; gw: Float64Array } {
    const buf = this.wasm.memory.buffer;
    if (this.cached === null || this.cached.buf !== buf) {
      const c = this.channels;
      const p = this.positions;
      const at = this.at;
      this.cached = { buf, w: this.f64(at.w, 2 * c), z: this.f64(at.z, 2 * p), d: this.f64(at.d, 2 * p), gw: this.f64(at.gw, 2 * c) };
    }
    return this.cached;
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
