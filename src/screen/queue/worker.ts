import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { loadScreenModel, type ItemOutcome, type LoadModelOptions, type ScreenModel } from '../model.js';
import { checkRedis, connectionOptions, parseRedisUrl, QUEUE_PREFIX, queueName } from './connection.js';
import { SCREEN_JOB, type ScreenJobData } from './jobs.js';

/** Something a worker did, for its log. */
export type WorkerEvent =
  | { type: 'ready'; queue: string; redis: string; model: string; runId: string }
  | { type: 'batch'; jobId: string; images: number; errors: number; ms: number }
  | { type: 'error'; message: string };

/** Options of `runWorker`. */
export interface WorkerOptions extends LoadModelOptions {
  /** Redis URL: redis://host:port[/db]. */
  queue: string;
  /** Run folder: its model decides which queue this worker serves. */
  run: string;
  /** Batches processed at once (default 2: one decodes while the other runs the backbone). */
  concurrency?: number;
  /**
   * How long a batch stays locked to this worker without a renewal (default 30 s). A worker
   * that dies loses its lock after this; the stalled check then hands the batch to another.
   */
  lockDurationMs?: number;
  /** How often this worker looks for batches whose worker died (default 30 s). */
  stalledIntervalMs?: number;
  onEvent?: (e: WorkerEvent) => void;
}

/** A running worker. */
export interface ScreenWorker {
  /** The model it serves. */
  readonly model: ScreenModel;
  /**
   * Stops taking batches, finishes the ones in hand, disconnects and frees the model. Resolves
   * false when that did not happen within `graceMs` (default 60 s; seen after a Redis outage):
   * the caller should then end the process; batches in hand return to the queue.
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
    const outcomes = await model.predict(data.items);
    emit({ type: 'batch', jobId: job.id ?? '', images: outcomes.length, errors: outcomes.filter((o) => 'error' in o).length, ms: performance.now() - t0 });
    return outcomes;
  };
  const worker = new Worker<ScreenJobData, ItemOutcome[]>(name, processJob, {
    connection: connectionOptions(addr),
    prefix: QUEUE_PREFIX,
    concurrency: opts.concurrency ?? 2,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: opts.stalledIntervalMs ?? 30_000,
    // a batch whose worker died twice is still given a third chance before it fails
    maxStalledCount: 2,
  });
  let lastError = '';
  worker.on('error', (err) => {
    // reconnecting after an outage repeats the same error: report each kind once in a row
    if (err.message !== lastError) emit({ type: 'error', message: err.message });
    lastError = err.message;
  });
  worker.on('completed', () => { lastError = ''; });
  await worker.waitUntilReady();
  emit({ type: 'ready', queue: name, redis: addr.display, model: model.info.id, runId: model.info.runId });
  return {
    model,
    async close(graceMs = 60_000) {
      let timer: NodeJS.Timeout | undefined;
      const clean = await Promise.race([
        worker.close().then(() => true, () => true),
        new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), graceMs); }),
      ]);
      clearTimeout(timer);
      // a session still running a batch must not be freed under it
      if (clean) await model.release();
      return clean;
    },
  };
}
