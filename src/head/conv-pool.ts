/**
 * Runs conv-head training batches on the calling thread plus (threads - 1) worker threads that share
 * the features, parameters and gradient slots through SharedArrayBuffers. Batches are handed over
 * with Atomics.wait/notify on shared control words (no message per batch); the calling thread
 * computes slots too, then sums the slots in slot order, so the result is the same for any thread
 * count. Workers are terminated by close().
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { RunError } from '../errors.js';
import {
  allocConvBuffers,
  claimWord,
  ConvSlotRunner,
  CTRL_DONE,
  CTRL_ERROR,
  CTRL_GEN,
  CTRL_MESSAGE_LENGTH,
  CTRL_READY,
  CTRL_STOP,
  CTRL_WORKER_SLOTS,
  fillConvBuffers,
  slotSize,
  type ConvBatchBuffers,
} from './conv-batch.js';
import type { Head, HeadSpec } from './types.js';

/** How long the calling thread waits for a batch without any slot finishing before it gives up. */
const STALL_MS = 120_000;

/** Batch runner of one conv-head training run. */
export class ConvBatchPool {
  readonly threads: number;
  private readonly buf: ConvBatchBuffers;
  private readonly runner: ConvSlotRunner;
  private readonly workers: Worker[] = [];
  private readonly stride: number;
  /** Generation of the current batch in the claim word (22 bits, wraps). */
  private gen = 0;

  /**
   * `features`/`labels` are the n training samples; `classWeights` the loss weights. With threads > 1
   * the features are copied once into shared memory unless they already are shared; the workers
   * boot meanwhile, and the constructor returns when they are ready.
   */
  constructor(spec: HeadSpec, features: Float32Array, labels: Uint8Array, classWeights: [number, number], batchSize: number, threads: number) {
    const n = labels.length;
    this.threads = threads;
    this.buf = allocConvBuffers(spec, features, n, batchSize, threads > 1);
    this.buf.coef[0] = classWeights[0];
    this.buf.coef[1] = classWeights[1];
    this.runner = new ConvSlotRunner(spec, this.buf, false);
    this.stride = slotSize(spec);
    try {
      for (let t = 1; t < threads; t++) this.workers.push(startWorker(spec, this.buf));
      fillConvBuffers(spec, this.buf, features, labels, n);
      this.waitReady();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Slots computed by worker threads so far (diagnostics: 0 means the calling thread did everything). */
  get workerSlots(): number {
    return Atomics.load(this.buf.ctrl, CTRL_WORKER_SLOTS);
  }

  /**
   * Forward + backward of the batch `samples` (with one dropout seed each) at the parameters of
   * `head`: writes the summed gradient into gradWeight/gradBias and returns the summed weighted nll.
   */
  runBatch(head: Head, samples: Int32Array, seeds: Uint32Array, coef: number, gradWeight: Float64Array, gradBias: Float64Array): number {
    const b = this.buf;
    const ctrl = b.ctrl;
    const n = samples.length;
    const c2 = gradWeight.length;
    b.params.set(head.weight);
    b.params[c2] = head.bias[0];
    b.params[c2 + 1] = head.bias[1];
    b.samples.set(samples);
    b.seeds.set(seeds);
    b.coef[2] = coef;
    // everything a slot reads is written before the claim word is published (a worker may claim at
    // once); DONE is reset before it too: every slot of the previous batch has already counted
    Atomics.store(ctrl, CTRL_DONE, 0);
    this.gen = (this.gen + 1) % 0x400000;
    Atomics.store(b.claim, 0, claimWord(this.gen, n, 0));
    if (this.workers.length > 0) {
      Atomics.add(ctrl, CTRL_GEN, 1);
      Atomics.notify(ctrl, CTRL_GEN);
    }
    this.runner.run();
    if (this.workers.length > 0) this.waitDone(n);
    // fixed-order reduction: slot 0, 1, ... whatever thread computed them
    const slots = b.slots;
    const stride = this.stride;
    gradWeight.fill(0);
    let gb0 = 0;
    let gb1 = 0;
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const off = i * stride;
      for (let j = 0; j < c2; j++) gradWeight[j] += slots[off + j];
      gb0 += slots[off + c2];
      gb1 += slots[off + c2 + 1];
      loss += b.losses[i];
    }
    gradBias[0] = gb0;
    gradBias[1] = gb1;
    return loss;
  }

  /** Stops and terminates the workers. */
  close(): void {
    const ctrl = this.buf.ctrl;
    Atomics.store(ctrl, CTRL_STOP, 1);
    Atomics.add(ctrl, CTRL_GEN, 1);
    Atomics.notify(ctrl, CTRL_GEN);
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
  }

  /** Waits until every worker has started; a failed start throws its error. */
  private waitReady(): void {
    const ctrl = this.buf.ctrl;
    const start = Date.now();
    for (;;) {
      if (Atomics.load(ctrl, CTRL_ERROR) !== 0) this.throwWorkerError();
      const ready = Atomics.load(ctrl, CTRL_READY);
      if (ready >= this.workers.length) return;
      if (Date.now() - start > STALL_MS) throw new RunError(`head training: worker threads did not start within ${STALL_MS / 1000} s; rerun with threads: 1`);
      // a failed start notifies DONE, not READY: poll at a short interval
      Atomics.wait(ctrl, CTRL_READY, ready, 50);
    }
  }

  /** Waits until n slots are done; a worker error throws, and so does no progress for STALL_MS. */
  private waitDone(n: number): void {
    const ctrl = this.buf.ctrl;
    let last = -1;
    let since = Date.now();
    for (;;) {
      const done = Atomics.load(ctrl, CTRL_DONE);
      if (Atomics.load(ctrl, CTRL_ERROR) !== 0) this.throwWorkerError();
      if (done >= n) return;
      if (done !== last) {
        last = done;
        since = Date.now();
      } else if (Date.now() - since > STALL_MS) {
        throw new RunError(`head training: a worker thread made no progress for ${STALL_MS / 1000} s; rerun with threads: 1`);
      }
      Atomics.wait(ctrl, CTRL_DONE, done, 1000);
    }
  }

  private throwWorkerError(): never {
    const len = Atomics.load(this.buf.ctrl, CTRL_MESSAGE_LENGTH);
    const text = new TextDecoder().decode(this.buf.message.slice(0, len));
    throw new RunError(`head training: a worker thread failed: ${text}; rerun with threads: 1 to see the error in the main thread`);
  }
}

/**
 * Starts a worker on conv-worker(.ts|.js) next to this module. Under tsx (running .ts sources) the
 * worker registers tsx itself, because Node 20 does not apply --import loader hooks to workers.
 * A failure to load is reported through the shared buffers like any worker error.
 */
function startWorker(spec: HeadSpec, buffers: ConvBatchBuffers): Worker {
  const fromTs = import.meta.url.endsWith('.ts');
  const workerUrl = new URL(fromTs ? './conv-worker.ts' : './conv-worker.js', import.meta.url).href;
  // the ESM build of tsx's API (require.resolve finds the CommonJS one beside it)
  const tsxApi = fromTs ? pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href : '';
  const register = fromTs ? `const api = await import(${JSON.stringify(tsxApi)}); (api.register ?? api.default.register)();` : '';
  const code = `
const { workerData } = require('node:worker_threads');
(async () => { ${register} await import(${JSON.stringify(workerUrl)}); })().catch((e) => {
  const b = workerData.buffers;
  const t = new TextEncoder().encode(String((e && e.stack) || e)).subarray(0, b.message.length);
  b.message.set(t);
  Atomics.store(b.ctrl, ${CTRL_MESSAGE_LENGTH}, t.length);
  Atomics.store(b.ctrl, ${CTRL_ERROR}, 1);
  Atomics.add(b.ctrl, ${CTRL_DONE}, 1 << 24);
  Atomics.notify(b.ctrl, ${CTRL_DONE});
});`;
  const worker = new Worker(code, { eval: true, workerData: { spec: { kind: spec.kind, inChannels: spec.inChannels, spatial: spec.spatial, dropout: spec.dropout }, buffers }, execArgv: [] });
  // failures are reported through the shared buffers (the calling thread is blocked, not listening)
  worker.on('error', () => undefined);
  worker.unref();
  return worker;
}
