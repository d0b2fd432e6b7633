// Image decoding on worker threads, so that a server stays responsive while a large or hostile
// file is decoded: DICOM decoding (JavaScript and WebAssembly codecs) runs synchronously, and a
// 100-megapixel image keeps a thread busy for seconds. A small pool of workers takes one image at
// a time each; a worker that decoded a very large image is ended afterwards, which returns the
// memory its WebAssembly codecs grew to (a WASM heap never shrinks); an aborted decode ends its
// worker at once.
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { InputError, type InputProblem } from '../errors.js';
import { startModuleWorker } from '../util/module-worker.js';
import type { ImageFormat, LoadedImage } from './grey-image.js';
import type { DecodeJob, DecodeReply } from './decode-worker.js';
import type { ImageSource, LoadLimits } from './load-image.js';

/** Settings of a decode pool. */
export interface DecodePoolOptions {
  /** Worker threads (default: 2, or 1 on a single core). */
  threads?: number;
  /** A worker that decoded an image of more pixels than this is ended afterwards (default 16 megapixels). */
  recycleAbovePixels?: number;
  /** An idle worker is ended after this many milliseconds (default 10 s). */
  idleMs?: number;
}

/** A decoded image and, when asked for, the sha256 of the bytes it came from. */
export interface DecodedWithHash {
  image: LoadedImage;
  sha256?: string;
}

interface Pending {
  job: DecodeJob;
  name: string;
  resolve: (r: DecodedWithHash) => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Slot {
  worker: Worker;
  current: Pending | null;
  idleTimer: NodeJS.Timeout | null;
}

function sourceName(src: ImageSource): string {
  return typeof src === 'string' ? src : src.name;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The decode was aborted', 'AbortError');
}

/** A pool of decoder threads; see {@link loadGreyImageOffThread} for the shared one. */
export class DecodePool {
  private readonly threads: number;
  private readonly recycleAbove: number;
  private readonly idleMs: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(opts: DecodePoolOptions = {}) {
    this.threads = Math.max(1, opts.threads ?? Math.min(2, availableParallelism()));
    this.recycleAbove = opts.recycleAbovePixels ?? 16_000_000;
    this.idleMs = opts.idleMs ?? 10_000;
  }

  /**
   * Decodes like loadGreyImage, on a worker thread; same result, same InputErrors. With `signal`,
   * an abort rejects at once with the signal's reason (a running decode's worker is ended).
   */
  async decode(src: ImageSource, limits: Partial<LoadLimits> = {}, opts: { signal?: AbortSignal } = {}): Promise<LoadedImage> {
    return (await this.decodeAndHash(src, limits, { ...opts, hash: false })).image;
  }

  /**
   * As `decode`; with `hash`, the worker also computes the sha256 of the bytes, so that a large
   * upload is not hashed on the calling thread either. Bytes in a SharedArrayBuffer reach the
   * worker without a copy (other bytes are copied once by postMessage).
   */
  decodeAndHash(src: ImageSource, limits: Partial<LoadLimits> = {}, opts: { signal?: AbortSignal; hash?: boolean } = {}): Promise<DecodedWithHash> {
    const { signal } = opts;
    if (this.closed) return Promise.reject(new Error('the decode pool is closed'));
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<DecodedWithHash>((resolve, reject) => {
      const p: Pending = { job: { id: this.nextId++, src, limits, hash: opts.hash ?? true }, name: sourceName(src), resolve, reject, signal };
      if (signal) {
        p.onAbort = () => this.abort(p);
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.queue.push(p);
      this.pump();
    });
  }

  /** Ends every worker; queued and running decodes are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) this.settle(p, () => p.reject(new Error('the decode pool was closed')));
    await Promise.all([...this.slots].map((s) => this.end(s, new Error('the decode pool was closed'))));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.current === null);
      if (!slot) {
        if (this.slots.length >= this.threads) return;
        slot = this.spawn();
      }
      const p = this.queue.shift()!;
      slot.current = p;
      if (slot.idleTimer) clearTimeout(slot.idleTimer);
      slot.idleTimer = null;
      slot.worker.ref();
      slot.worker.postMessage(p.job);
    }
  }

  private spawn(): Slot {
    const worker = startModuleWorker(import.meta.url, 'decode-worker');
    const slot: Slot = { worker, current: null, idleTimer: null };
    worker.on('message', (reply: DecodeReply) => this.onReply(slot, reply));
    worker.on('error', (err) => void this.end(slot, err));
    worker.on('exit', (code) => void this.end(slot, new Error(`exit code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  private onReply(slot: Slot, reply: DecodeReply): void {
    const p = slot.current;
    if (!p || p.job.id !== reply.id) return;
    slot.current = null;
    let pixels = 0;
    if ('image' in reply) {
      const { width, height, data, format, bitDepth, meta } = reply.image;
      pixels = width * height;
      const image: LoadedImage = { width, height, data, format: format as ImageFormat, bitDepth, ...(meta ? { meta } : {}) };
      this.settle(p, () => p.resolve({ image, ...(reply.sha256 ? { sha256: reply.sha256 } : {}) }));
    } else if ('inputError' in reply) {
      const e = reply.inputError;
      const detail = e.message.startsWith(`${e.file}: `) ? e.message.slice(e.file.length + 2) : e.message;
      this.settle(p, () => p.reject(new InputError(e.file, e.problem as InputProblem, detail)));
    } else {
      this.settle(p, () => p.reject(new Error(`${p.name}: ${reply.error}`)));
    }
    if (pixels > this.recycleAbove) {
      void this.end(slot, null);
    } else {
      slot.worker.unref();
      slot.idleTimer = setTimeout(() => void this.end(slot, null), this.idleMs);
      slot.idleTimer.unref();
    }
    this.pump();
  }

  /** Ends a worker; a decode it was running is rejected (as the file's problem when the worker died of it). */
  private async end(slot: Slot, why: unknown): Promise<void> {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    if (slot.idleTimer) clearTimeout(slot.idleTimer);
    const p = slot.current;
    slot.current = null;
    if (p) {
      const msg = why instanceof Error ? why.message : String(why);
      this.settle(p, () => p.reject(new InputError(p.name, 'corrupt', `the decoder thread stopped while decoding this file (${msg})`, { cause: why })));
    }
    await slot.worker.terminate();
    if (!this.closed) this.pump();
  }

  private abort(p: Pending): void {
    const reason = abortReason(p.signal!);
    const q = this.queue.indexOf(p);
    if (q >= 0) {
      this.queue.splice(q, 1);
      this.settle(p, () => p.reject(reason));
      return;
    }
    const slot = this.slots.find((s) => s.current === p);
    if (!slot) return;
    slot.current = null;
    this.settle(p, () => p.reject(reason));
    void this.end(slot, null);
  }

  private settle(p: Pending, fn: () => void): void {
    if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
    fn();
  }
}

let shared: DecodePool | undefined;

/**
 * Decodes an image exactly as loadGreyImage does, but on one of the process's shared decoder
 * threads (created on first use, ended when idle), so the calling thread's event loop stays free.
 * `signal` aborts the decode.
 */
export function loadGreyImageOffThread(src: ImageSource, limits: Partial<LoadLimits> = {}, opts: { signal?: AbortSignal } = {}): Promise<LoadedImage> {
  shared ??= new DecodePool();
  return shared.decode(src, limits, opts);
}

/** As loadGreyImageOffThread, with the sha256 of the bytes computed on the decoder thread too. */
export function decodeAndHashOffThread(src: ImageSource, limits: Partial<LoadLimits> = {}, opts: { signal?: AbortSignal } = {}): Promise<DecodedWithHash> {
  shared ??= new DecodePool();
  return shared.decodeAndHash(src, limits, { ...opts, hash: true });
}
