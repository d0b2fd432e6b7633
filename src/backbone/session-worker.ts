// Worker thread body of ThreadSession (thread-session.ts): holds one onnxruntime session and runs
// it for the thread that started it. onnxruntime-node's `run` is synchronous under its promise
// (a whole backbone pass blocks the calling thread), so a server runs it here.
// ort-env first: the worker may only create a session when telemetry is known to be off.
import { assertTelemetryOff } from './ort-env.js';
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

/** Messages to the worker. */
export type SessionRequest =
  | { kind: 'load'; graph: Uint8Array; options: ort.InferenceSession.SessionOptions }
  | { kind: 'run'; id: number; input: { name: string; data: Float32Array; dims: number[] }; fetches: string[] }
  | { kind: 'release'; id: number };

/** Messages from the worker: the answer to request `id` (0 for load). */
export type SessionReply =
  | { id: number; outputs: Record<string, { data: Float32Array; dims: number[] }> }
  | { id: number; error: string };

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
        // a copy of exactly the tensor's floats, handed over without a second copy
        const data = (t.data as Float32Array).slice();
        outputs[name] = { data, dims: t.dims.map(Number) };
        transfer.push(data.buffer as ArrayBuffer);
      }
      port.postMessage({ id, outputs } satisfies SessionReply, transfer);
    } else {
      await session?.release();
      session = null;
      port.postMessage({ id, outputs: {} } satisfies SessionReply);
    }
  } catch (err) {
    port.postMessage({ id, error: err instanceof Error ? err.message : String(err) } satisfies SessionReply);
  }
}
