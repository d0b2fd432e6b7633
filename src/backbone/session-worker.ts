// Worker thread body of ThreadSession (thread-session.ts): holds one onnxruntime session and runs
// it for the thread that started it. onnxruntime-node's `run` is synchronous under its promise
// (a whole backbone pass blocks the calling thread), so a server runs it here.
// ort-env first: the worker may only create a session when telemetry is known to be off.
import { assertTelemetryOff } from './ort-env.js';
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

/** Messages to the worker. */
export type SessionRequest =
  | { kind: 'load'; graph: Uint8Array; options: ort.InferenceSession.SessionOptions; logLevel?: ort.Env['logLevel'] }
  | { kind: 'run'; id: number; input: { name: string; data: Float32Array; dims: number[] }; fetches: string[]; lent?: boolean }
  | { kind: 'release'; id: number };

/** Messages from the worker: the answer to request `id` (0 for load). */
export type SessionReply =
  | { id: number; outputs: Record<string, { data: Float32Array; dims: number[] }>; input?: Float32Array }
  | { id: number; error: string; input?: Float32Array };

const port = parentPort!;
let session: ort.InferenceSession | null = null;
// requests are answered in order: a run waits for the load before it
let ready: Promise<unknown> = Promise.resolve();

port.on('message', (m: SessionRequest) => {
  ready = ready.then(() => handle(m)).catch(() => {});
});

async function handle(m: SessionRequest): Promise<void> {
  const id = m.kind === 'load' ? 0 : m.id;
  try {
    if (m.kind === 'load') {
      assertTelemetryOff();
      // the caller's logging level: onnxruntime's process-wide logger takes the level of whichever
      // thread creates the first session, and this module has an ort.env of its own
      if (m.logLevel) ort.env.logLevel = m.logLevel;
      session = await ort.InferenceSession.create(m.graph, m.options);
      port.postMessage({ id, outputs: {} } satisfies SessionReply);
    } else if (m.kind === 'run') {
      if (!session) throw new Error('no session is loaded');
      const feeds = { [m.input.name]: new ort.Tensor('float32', m.input.data, m.input.dims) };
      const out = await session.run(feeds, m.fetches);
      const outputs: Record<string, { data: Float32Array; dims: number[] }> = {};
      const transfer: ArrayBuffer[] = [];
      for (const name of m.fetches) {
        const t = out[name];
        let data = t.data as Float32Array;
        // onnxruntime gives each output a buffer of its own: handed over as it is; anything else
        // (a view into a larger buffer) is copied to exactly the tensor's floats first
        if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || transfer.includes(data.buffer as ArrayBuffer)) data = data.slice();
        outputs[name] = { data, dims: t.dims.map(Number) };
        transfer.push(data.buffer as ArrayBuffer);
      }
      // a lent input goes back to its owner with the answer
      if (m.lent) transfer.push(m.input.data.buffer as ArrayBuffer);
      port.postMessage({ id, outputs, ...(m.lent ? { input: m.input.data } : {}) } satisfies SessionReply, transfer);
    } else {
      await session?.release();
      session = null;
      port.postMessage({ id, outputs: {} } satisfies SessionReply);
    }
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    // a lent input goes back even when the run failed (unless it was already sent back)
    const back = m.kind === 'run' && m.lent && m.input.data.buffer.byteLength > 0 ? m.input.data : null;
    port.postMessage({ id, error, ...(back ? { input: back } : {}) } satisfies SessionReply, back ? [back.buffer as ArrayBuffer] : []);
  }
}
