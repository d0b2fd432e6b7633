/**
 * One training batch of the SqueezeNet conv head, split into per-sample "slots" that any thread may
 * compute: slot i holds sample i's gradient and loss, and the caller sums the slots in slot order.
 * Each slot's dropout mask comes from its own seed, so the result does not depend on which thread
 * computed which slot, nor on the number of threads: 1 thread and N threads give identical bits.
 */
import { Rng } from '../util/rng.js';
import { fillDropoutMask, fillHalfMaskAnd, maskLayout, maskWords, nonzeroBits, type MaskLayout } from './dropout.js';
import { HeadKernel, type SampleMask } from './kernels.js';
import { headPositions, type Head, type HeadSpec } from './types.js';

/** Indices into the control words (Int32Array). */
export const CTRL_GEN = 0; // bumped by the main thread when a batch is ready (workers wait on it)
export const CTRL_DONE = 1; // finished slots of the current batch (the main thread waits on it)
export const CTRL_STOP = 2; // 1 = workers exit
export const CTRL_ERROR = 3; // 1 = a worker failed; its message is in `message`
export const CTRL_MESSAGE_LENGTH = 4;
export const CTRL_READY = 5; // workers that have started
export const CTRL_WORKER_SLOTS = 6; // slots computed by workers (diagnostics)
export const CTRL_WORDS = 8;

/** Largest batch the claim word can describe (20 bits for the slot count and the next slot). */
export const MAX_POOL_BATCH = 0xfffff;

/**
 * The claim word: batch generation (bits 40+), slot count (bits 20-39) and next unclaimed slot
 * (bits 0-19). A thread claims slot i by compare-exchange from (gen, n, i) to (gen, n, i + 1), so a
 * thread that still holds a word of an earlier batch can never claim a slot of a later one (its
 * exchange fails) nor count a slot twice; the generation makes a stale word unequal to every later one.
 */
export function claimWord(gen: number, count: number, next: number): bigint {
  return (BigInt(gen) << 40n) | (BigInt(count) << 20n) | BigInt(next);
}

/** Buffers shared by the threads of one training run (SharedArrayBuffer-backed when threads > 1). */
export interface ConvBatchBuffers {
  ctrl: Int32Array;
  /** One claim word (claimWord()). */
  claim: BigInt64Array;
  /** Training features, n x C x H x W. */
  features: Float32Array;
  /** Per-sample bitmaps of nonzero features (dropout mask layout); masks are ANDed with them. */
  nonzero: Uint32Array;
  labels: Uint8Array;
  /** [class weight 0, class weight 1, batch normaliser 1 / sum of the batch's target weights]. */
  coef: Float64Array;
  /** Head parameters for the batch: weight (2C, out-major) then bias (2). */
  params: Float64Array;
  /** Sample index and dropout seed of each slot. */
  samples: Int32Array;
  seeds: Uint32Array;
  /** Gradient of each slot (2C + 2 values: weight then bias) and its weighted nll. */
  slots: Float64Array;
  losses: Float64Array;
  /** UTF-8 text of a worker's error. */
  message: Uint8Array;
}

/** Values per gradient slot. */
export function slotSize(spec: HeadSpec): number {
  return 2 * spec.inChannels + 2;
}

/** Mask layout of a conv head sample: one row per channel. */
export function convMaskLayout(spec: HeadSpec): MaskLayout {
  return maskLayout(spec.inChannels, headPositions(spec));
}

/**
 * Allocates the buffers for n training samples; `shared` puts them in SharedArrayBuffers. `features`
 * is used as is when it needs no copy (not shared, or already in a SharedArrayBuffer); otherwise the
 * caller copies it in with fillConvBuffers(), as it does the labels and nonzero bitmaps.
 */
export function allocConvBuffers(spec: HeadSpec, features: Float32Array, n: number, batchSize: number, shared: boolean): ConvBatchBuffers {
  const mk = shared ? (bytes: number) => new SharedArrayBuffer(bytes) : (bytes: number) => new ArrayBuffer(bytes);
  const stride = slotSize(spec);
  const reuse = !shared || features.buffer instanceof SharedArrayBuffer;
  return {
    ctrl: new Int32Array(mk(4 * CTRL_WORDS)),
    claim: new BigInt64Array(mk(8)),
    features: reuse ? features : new Float32Array(mk(features.byteLength)),
    nonzero: new Uint32Array(mk(4 * n * maskWords(convMaskLayout(spec)))),
    labels: new Uint8Array(mk(n)),
    coef: new Float64Array(mk(8 * 3)),
    params: new Float64Array(mk(8 * stride)),
    samples: new Int32Array(mk(4 * batchSize)),
    seeds: new Uint32Array(mk(4 * batchSize)),
    slots: new Float64Array(mk(8 * stride * batchSize)),
    losses: new Float64Array(mk(8 * batchSize)),
    message: new Uint8Array(mk(4096)),
  };
}

/** Fills the data buffers: features (if they are a copy), labels and the nonzero bitmaps. */
export function fillConvBuffers(spec: HeadSpec, buf: ConvBatchBuffers, features: Float32Array, labels: Uint8Array, n: number): void {
  buf.labels.set(labels);
  nonzeroBits(features, n, convMaskLayout(spec), buf.nonzero, buf.features !== features ? buf.features : undefined);
}

/** Computes slots of the current batch for one thread, on its own kernel and mask buffers. */
export class ConvSlotRunner {
  private readonly buf: ConvBatchBuffers;
  private readonly kernel: HeadKernel;
  private readonly layout: MaskLayout;
  private readonly words: number;
  private readonly mask: SampleMask;
  private readonly p: number;
  private readonly stride: number;
  private readonly isWorker: boolean;

  /** `isWorker` counts the slots this runner computes in CTRL_WORKER_SLOTS. */
  constructor(spec: HeadSpec, buf: ConvBatchBuffers, isWorker: boolean) {
    this.isWorker = isWorker;
    const c2 = 2 * spec.inChannels;
    const head: Head = { ...spec, weight: buf.params.subarray(0, c2), bias: buf.params.subarray(c2, c2 + 2) };
    this.buf = buf;
    this.kernel = new HeadKernel(head);
    this.layout = convMaskLayout(spec);
    this.words = maskWords(this.layout);
    this.p = spec.dropout;
    this.mask = { bits: new Uint32Array(this.words), scale: 1 / (1 - spec.dropout) };
    this.stride = slotSize(spec);
  }

  /** Claims and computes slots until the batch has none left. */
  run(): void {
    const ctrl = this.buf.ctrl;
    const claim = this.buf.claim;
    for (;;) {
      const word = Atomics.load(claim, 0);
      const i = Number(word & 0xfffffn);
      const n = Number((word >> 20n) & 0xfffffn);
      if (i >= n) return;
      if (Atomics.compareExchange(claim, 0, word, word + 1n) !== word) continue;
      // slot i of this batch is ours alone; the batch's data stays put until every slot is done
      this.computeSlot(i);
      if (this.isWorker) Atomics.add(ctrl, CTRL_WORKER_SLOTS, 1);
      if (Atomics.add(ctrl, CTRL_DONE, 1) === n - 1 && ctrl.buffer instanceof SharedArrayBuffer) Atomics.notify(ctrl, CTRL_DONE);
    }
  }

  /** Forward + backward of slot i: dropout mask from the slot's seed, ANDed with the nonzero bitmap. */
  private computeSlot(i: number): void {
    const b = this.buf;
    const s = b.samples[i];
    const bits = this.mask.bits;
    const words = this.words;
    const nz = b.nonzero;
    const base = s * words;
    if (this.p === 0.5) fillHalfMaskAnd(bits, words, b.seeds[i], nz, base);
    else {
      fillDropoutMask(bits, this.layout, this.p, new Rng(b.seeds[i]));
      for (let j = 0; j < words; j++) bits[j] &= nz[base + j];
    }
    const k = this.kernel;
    k.zeroGrad();
    const y = b.labels[s];
    b.losses[i] = k.accumulate(b.features, s, y, b.coef[y], b.coef[2], this.mask);
    const off = i * this.stride;
    b.slots.set(k.gradWeight, off);
    b.slots[off + this.stride - 2] = k.gradBias[0];
    b.slots[off + this.stride - 1] = k.gradBias[1];
  }
}

/** Records a worker failure in the shared buffers and wakes the main thread, which throws it. */
export function reportWorkerError(buffers: ConvBatchBuffers, e: unknown): void {
  const text = new TextEncoder().encode(e instanceof Error ? (e.stack ?? e.message) : String(e));
  const n = Math.min(text.length, buffers.message.length);
  buffers.message.set(text.subarray(0, n));
  Atomics.store(buffers.ctrl, CTRL_MESSAGE_LENGTH, n);
  Atomics.store(buffers.ctrl, CTRL_ERROR, 1);
  Atomics.add(buffers.ctrl, CTRL_DONE, 1 << 24);
  Atomics.notify(buffers.ctrl, CTRL_DONE);
}
