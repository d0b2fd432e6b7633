import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { connectionOptions, QUEUE_PREFIX, type RedisAddress } from './connection.js';

/** How a worker takes jobs. */
export interface ServeOptions {
  /** Jobs processed at once (default 2: one decodes while the other runs the backbone). */
  concurrency?: number;
  /**
   * How long a job stays locked to this worker without a renewal (default 30 s). A worker
   * that dies loses its lock after this; the stalled check then hands the job to another.
   */
  lockDurationMs?: number;
  /** How often this worker looks for jobs whose worker died (default 30 s). */
  stalledIntervalMs?: number;
  /** Each worker error, once per kind in a row (reconnecting repeats the same one). */
  onError?: (message: string) => void;
}

/** A queue being served. */
export interface QueueServer {
  /**
   * Stops taking jobs, finishes the ones in hand (their results delivered while Redis answers)
   * and disconnects. Prompt when Redis is unreachable: results that cannot be delivered are
   * dropped and their jobs return to the queue when their locks expire. Resolves false when a job
   * in hand was still running after `graceMs`.
   */
  close(graceMs: number): Promise<boolean>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** After its processor returns, how long a job's result may take to reach Redis before closing goes on without it. */
const DELIVERY_WAIT_MS = 5000;

/**
 * Serves one queue with `processor`. Closing does not use BullMQ's own clean close, which waits
 * (with no limit) for Redis to come back so as to send QUIT and the results in hand: it pauses the
 * worker, waits for the jobs in hand itself, and then closes BullMQ's connections without waiting.
 */
export async function serveQueue<D, R>(addr: RedisAddress, name: string, processor: (job: Job<D>) => Promise<R>, opts: ServeOptions): Promise<QueueServer> {
  let running = 0;
  // jobs taken whose result Redis has not confirmed yet ('completed' or 'failed' not seen)
  const undelivered = new Set<string>();
  const worker = new Worker<D, R>(name, async (job) => {
    running++;
    undelivered.add(job.id ?? '');
    try {
      return await processor(job);
    } finally {
      running--;
    }
  }, {
    connection: connectionOptions(addr),
    prefix: QUEUE_PREFIX,
    concurrency: opts.concurrency ?? 2,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: opts.stalledIntervalMs ?? 30_000,
    // a job whose worker died twice is still given a third chance before it fails
    maxStalledCount: 2,
  });
  let lastError = '';
  worker.on('error', (err) => {
    if (err.message !== lastError) opts.onError?.(err.message);
    lastError = err.message;
  });
  worker.on('completed', (job) => {
    undelivered.delete(job.id ?? '');
    lastError = '';
  });
  worker.on('failed', (job) => { if (job) undelivered.delete(job.id ?? ''); });
  // a connection of its own that fails at once while Redis is down (BullMQ's wait for it)
  const health = new Redis({ ...connectionOptions(addr), enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
  health.on('error', () => undefined);
  const reachable = async (): Promise<boolean> => {
    try {
      if (health.status === 'wait') await health.connect();
      await Promise.race([health.ping(), sleep(1000).then(() => { throw new Error('no answer'); })]);
      return true;
    } catch {
      return false;
    }
  };
  await worker.waitUntilReady();
  return {
    async close(graceMs) {
      const deadline = Date.now() + graceMs;
      // stop taking jobs; touches no Redis connection
      await worker.pause(true);
      let idleSince: number | null = null;
      while ((running > 0 || undelivered.size > 0) && Date.now() < deadline) {
        if (running > 0) {
          idleSince = null;
        } else {
          // only deliveries are left: they need Redis, and a result Redis lost (restarted) never completes
          idleSince ??= Date.now();
          if (Date.now() - idleSince > DELIVERY_WAIT_MS || !(await reachable())) break;
        }
        await sleep(100);
      }
      // force: disconnect without waiting for anything more from Redis
      await worker.close(true).catch(() => undefined);
      health.disconnect();
      while (running > 0 && Date.now() < deadline) await sleep(100);
      return running === 0;
    },
  };
}
