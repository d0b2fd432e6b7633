import { UnrecoverableError, type Job } from 'bullmq';
import { loadScreenModel, type ItemOutcome, type LoadModelOptions, type ScreenModel } from '../model.js';
import { checkRedis, parseRedisUrl, queueName } from './connection.js';
import { SCREEN_JOB, type ScreenJobData } from './jobs.js';
import { serveQueue, type ServeOptions } from './serve.js';

/** Something a worker did, for its log. */
export type WorkerEvent =
  /** `serves` says what, in words: the run and model, or the backbone. */
  | { type: 'ready'; queue: string; redis: string; serves: string }
  /** `cpuMs`: this process's CPU time during the batch (all its threads; other batches in flight included). */
  | { type: 'batch'; jobId: string; images: number; errors: number; ms: number; cpuMs: number }
  | { type: 'error'; message: string };

/** CPU time (user + system, all threads) of this process since `c0`, in ms. */
export function cpuMsSince(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

/** Options of `runWorker`. */
export interface WorkerOptions extends LoadModelOptions, Omit<ServeOptions, 'onError'> {
  /** Redis URL: redis://host:port[/db]. */
  queue: string;
  /** Run folder: its model decides which queue this worker serves. */
  run: string;
  onEvent?: (e: WorkerEvent) => void;
}

/** A running worker. */
export interface ScreenWorker {
  /** The model it serves. */
  readonly model: ScreenModel;
  /**
   * Stops taking batches, finishes the ones in hand, disconnects and frees the model; prompt
   * when Redis is unreachable (results that cannot be delivered are dropped: their batches return
   * to the queue). Resolves false when a batch was still running after `graceMs` (default 60 s):
   * the caller should then end the process.
   */
  close(graceMs?: number): Promise<boolean>;
}

/**
 * A screening worker: loads the run's model once, then takes batches from the queue of that
 * model, predicts them and returns one outcome per file as the job's result. A bad file is an
 * error outcome (the job still succeeds); a fault of the worker itself fails the attempt, and
 * the queue retries it with backoff.
 */
export async function runWorker(opts: WorkerOptions): Promise<ScreenWorker> {
  const addr = parseRedisUrl(opts.queue);
  await checkRedis(addr);
  const model = await loadScreenModel(opts.run, opts);
  const name = queueName('screen', model.info.id);
  const emit = opts.onEvent ?? (() => undefined);
  const processJob = async (job: Job<ScreenJobData>): Promise<ItemOutcome[]> => {
    const data = job.data;
    if (job.name !== SCREEN_JOB || data?.v !== 1 || !Array.isArray(data.items)) throw new UnrecoverableError(`job ${job.id} is not a deep-covid screening batch`);
    if (data.model !== model.info.id) throw new UnrecoverableError(`job ${job.id} is for model ${data.model.slice(0, 12)}…, this worker serves ${model.info.id.slice(0, 12)}…`);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const outcomes = await model.predict(data.items, { gate: data.gate !== false });
    emit({ type: 'batch', jobId: job.id ?? '', images: outcomes.length, errors: outcomes.filter((o) => 'error' in o).length, ms: performance.now() - t0, cpuMs: cpuMsSince(c0) });
    return outcomes;
  };
  const server = await serveQueue(addr, name, processJob, { ...opts, onError: (message) => emit({ type: 'error', message }) });
  emit({ type: 'ready', queue: name, redis: addr.display, serves: `screening with run ${model.info.runId} (model ${model.info.id.slice(0, 12)}…)` });
  return {
    model,
    async close(graceMs = 60_000) {
      const clean = await server.close(graceMs);
      // a session still running a batch must not be freed under it
      if (clean) await model.release();
      return clean;
    },
  };
}
