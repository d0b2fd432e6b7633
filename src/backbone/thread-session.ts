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

  /**
   * Loads `graph` (an ONNX model's bytes, handed to the thread) into a session on a new thread;
   * `logLevel` is the caller's `ort.env.logLevel` (the thread's onnxruntime module has its own).
   */
  static async create(graph: Uint8Array, options: ort.InferenceSession.SessionOptions, logLevel?: ort.Env['logLevel']): Promise<ThreadSession> {
    const s = new ThreadSession(startModuleWorker(import.meta.url, 'session-worker'));
    try {
      await s.ask(0, { kind: 'load', graph, options, logLevel });
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
        resolve: (r) => ('error' in r ? reject(Object.assign(new Error(r.error), { input: r.input })) : resolve(r)),
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

  /**
   * As `run`, without copying the input: its buffer is moved to the inference thread (detached
   * here, so the caller cannot touch it during the pass) and comes back as `input`, a view of the
   * same floats, with the answer or, when the pass fails, on the error (`err.input`). A batch of
   * 20 images is 11.5 MiB: copying it in and out cost ~0.7 ms of CPU per image (SqueezeNet, measured).
   */
  async runLent(input: { name: string; data: Float32Array; dims: number[] }, fetches: string[]): Promise<{ outputs: Record<string, { data: Float32Array; dims: number[] }>; input: Float32Array }> {
    const id = this.nextId++;
    const reply = await this.ask(id, { kind: 'run', id, input, fetches, lent: true }, [input.data.buffer as ArrayBuffer]);
    return { outputs: reply.outputs, input: reply.input! };
  }

  async release(): Promise<void> {
    try {
      if (!this.failure) await this.ask(this.nextId++, { kind: 'release', id: this.nextId - 1 });
    } finally {
      await this.worker.terminate();
    }
  }
}
