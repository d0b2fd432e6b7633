// An onnxruntime session on a worker thread of its own, with the two methods Backbone uses.
// onnxruntime-node runs a session synchronously on the calling thread (its promise only defers
// the start), so a pass of a large backbone would stop a server's event loop for its whole
// duration; here the calling thread only posts the input tensor and receives the outputs.
import type { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { startModuleWorker } from '../util/module-worker.js';
import type { SessionReply, SessionRequest } from './session-worker.js';

/** What Backbone needs of a session: one float input, named outputs. */
export interface FeatureSession {
  run(feeds: Record<string, ort.Tensor>, fetches: string[]): Promise<Record<string, { data: unknown; dims: readonly number[] }>>;
  release(): Promise<void>;
}

/** A session held by a worker thread; requests are answered in order. */
export class ThreadSession implements FeatureSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: SessionReply) => void; reject: (e: unknown) => void }>();
  private failure: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (r: SessionReply) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      p?.resolve(r);
    });
    const fail = (err: unknown) => {
      this.failure = err instanceof Error ? err : new Error(String(err));
      for (const p of this.pending.values()) p.reject(new Error(`the inference thread stopped: ${this.failure.message}`));
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    // an idle session must not keep the process alive
    worker.unref();
  }

  /** Loads `graph` (an ONNX model's bytes, handed to the thread) into a session on a new thread. */
  static async create(graph: Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<ThreadSession> {
    const s = new ThreadSession(startModuleWorker(import.meta.url, 'session-worker'));
    try {
      await s.ask(0, { kind: 'load', graph, options });
    } catch (err) {
      await s.worker.terminate();
      throw err;
    }
    return s;
  }

  private ask(id: number, m: SessionRequest, transfer: ArrayBuffer[] = []): Promise<Extract<SessionReply, { outputs: unknown }>> {
    if (this.failure) return Promise.reject(new Error(`the inference thread stopped: ${this.failure.message}`));
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        resolve: (r) => ('error' in r ? reject(new Error(r.error)) : resolve(r)),
        reject,
      });
      // a run in flight keeps the process alive until it is answered
      this.worker.ref();
      this.worker.postMessage(m, transfer);
    }).finally(() => {
      if (this.pending.size === 0) this.worker.unref();
    }) as Promise<Extract<SessionReply, { outputs: unknown }>>;
  }

  async run(feeds: Record<string, ort.Tensor>, fetches: string[]): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
    const [name, tensor] = Object.entries(feeds)[0];
    // copied (the caller may reuse its buffer): one image is 0.6 MiB, a moment's memcpy
    const input = { name, data: tensor.data as Float32Array, dims: tensor.dims.map(Number) };
    return (await this.ask(this.nextId++, { kind: 'run', id: this.nextId - 1, input, fetches })).outputs;
  }

  async release(): Promise<void> {
    try {
      if (!this.failure) await this.ask(this.nextId++, { kind: 'release', id: this.nextId - 1 });
    } finally {
      await this.worker.terminate();
    }
  }
}
