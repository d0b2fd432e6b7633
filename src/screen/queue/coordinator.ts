import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QueueError } from '../../errors.js';
import { batchKey, type BatchExecutor } from '../drive.js';
import type { BatchItem, ItemOutcome, ModelInfo } from '../model.js';
import { checkRedis, connectionOptions, parseRedisUrl, QUEUE_PREFIX, queueName, type RedisAddress } from './connection.js';
import { outcomesOf, SCREEN_JOB, type ScreenJobData } from './jobs.js';

/** One kind of job (screening, feature extraction), as the coordinator sees it. */
export interface JobKind<I, O> {
  /** The BullMQ queue and the jobs' name in it. */
  queue: string;
  jobName: string;
  /** The job's data for a batch of items. */
  payload(items: I[]): unknown;
  /**
   * A completed job's outcomes, one per item in order; null when its results are gone (the batch
   * is then sent again).
   */
  outcomes(job: Job, items: I[]): Promise<O[] | null>;
  /** The outcome of an item that failed on every attempt, in a job of its own. */
  failed(item: I, reason: string): O;
  /** The job id of a one-item batch: a batch failing every attempt is split into these. */
  itemKey(item: I): string;
  /** Frees what a job leaves beside it once its outcomes are used (best effort). */
  discard?(key: string): Promise<void>;
  /** What to tell the user when no worker serves the queue for a while. */
  noWorker: string;
}

/** How the coordinator uses the queue. */
export interface CoordinatorOptions {
  /** Batches enqueued and not yet collected (default 256): bounds Redis memory, keeps workers fed. */
  window: number;
  /**
   * Tries per batch (default 3). A batch failing them all is split into one job per file; a file
   * failing alone gets a 'failed' error row. A bad image is not a failure: it is an error row at once.
   */
  attempts: number;
  /** First retry delay, doubled each time (default 2000 ms). */
  backoffMs: number;
  /** How often every outstanding batch is checked: finished ones collected, lost ones re-sent (default 2000 ms). */
  reconcileMs: number;
  /** Give up after Redis has been unreachable this long (default 10 min); rows written are kept. */
  maxOutageMs: number;
  /** Status changes worth telling the user (outage, recovery, no worker). */
  onStatus?: (message: string) => void;
  /** Screening: false runs the workers with the input gate off (default true). */
  gate?: boolean;
}

const DEFAULTS: Omit<CoordinatorOptions, 'onStatus'> = { window: 256, attempts: 3, backoffMs: 2000, reconcileMs: 2000, maxOutageMs: 600_000 };

interface Waiter<I, O> {
  items: I[];
  settle: { resolve: (o: O[]) => void; reject: (e: unknown) => void }[];
  collecting: boolean;
}

/**
 * The coordinator side of a queue: each batch becomes a BullMQ job whose id is the batch's key
 * (content hashes + model), so sending it again is a no-op while it exists. Results
 * are collected on the queue's 'completed' events and, as a safety net, by a periodic check of
 * every outstanding batch, which also re-sends batches the queue lost (Redis restarted without
 * persistence, or jobs removed). A finished job is removed once its rows are written.
 */
export class QueueCoordinator<I, O> {
  readonly concurrency: number;
  private readonly waiting = new Map<string, Waiter<I, O>>();
  private readonly timer: NodeJS.Timeout;
  private outageSince: number | null = null;
  private reconciling = false;
  private pinging = false;
  private lastProgress = Date.now();
  private warnedNoWorker = false;
  private readonly watched = new WeakSet<AbortSignal>();
  private closed = false;

  constructor(
    private readonly addr: RedisAddress,
    private readonly kind: JobKind<I, O>,
    private readonly queue: Queue,

    private readonly clients: CoordinatorClients,
    private readonly opts: CoordinatorOptions,
  ) {
    this.concurrency = opts.window;
    this.timer = setInterval(() => void this.tick(), opts.reconcileMs);
    void this.listen();
  }

  /**
   * Follows the queue's event stream (what BullMQ's QueueEvents reads) on a connection of our
   * own, so a finished batch is collected at once. Events missed while away are caught by the
   * periodic check.
   */
  private async listen(): Promise<void> {
    let lastId = '$';
    while (!this.closed) {
      try {
        const res = await this.clients.events.xread('BLOCK', 1000, 'STREAMS', this.queue.keys.events, lastId);
        for (const [, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            lastId = id;
            const ev: Record<string, string> = {};
            for (let i = 0; i + 1 < fields.length; i += 2) ev[fields[i]] = fields[i + 1];
            if ((ev.event === 'completed' || ev.event === 'failed') && this.waiting.has(ev.jobId)) void this.checkOne(ev.jobId).catch(() => undefined);
          }
        }
      } catch {
        if (!this.closed) await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** The batch's outcomes, one per item in order, once a worker has done it. */
  run(key: string, items: I[], signal?: AbortSignal): Promise<O[]> {
    if (signal) this.watch(signal);
    return new Promise<O[]>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const existing = this.waiting.get(key);
      if (existing) {
        // the same content in two batches: one job, both get its outcomes
        existing.settle.push({ resolve, reject });
        return;
      }
      this.waiting.set(key, { items, settle: [{ resolve, reject }], collecting: false });
      // an add that fails (Redis down) is retried by the periodic check, which finds the job missing
      void this.enqueue(key).catch(() => undefined);
    });
  }

  /** A stop request abandons every outstanding batch (their jobs stay queued for a rerun to collect). */
  private watch(signal: AbortSignal): void {
    if (this.watched.has(signal)) return;
    this.watched.add(signal);
    signal.addEventListener('abort', () => this.rejectAll(signal.reason), { once: true });
  }

  private rejectAll(err: unknown): void {
    for (const [key, w] of [...this.waiting]) {
      this.waiting.delete(key);
      for (const s of w.settle) s.reject(err);
    }
  }

  private async enqueue(key: string): Promise<void> {
    const w = this.waiting.get(key);
    if (!w) return;
    await this.queue.add(this.kind.jobName, this.kind.payload(w.items), {
      jobId: key,
      attempts: this.opts.attempts,
      backoff: { type: 'exponential', delay: this.opts.backoffMs },
      // the coordinator removes jobs once their rows are written; these bound what an abandoned screening leaves
      removeOnComplete: { age: 7 * 24 * 3600 },
      removeOnFail: { age: 7 * 24 * 3600 },
    });
  }

  private finish(key: string, outcomes: O[]): void {
    const w = this.waiting.get(key);
    if (!w) return;
    this.waiting.delete(key);
    this.lastProgress = Date.now();
    this.warnedNoWorker = false;
    for (const s of w.settle) s.resolve(outcomes);
  }

  /** Takes a completed job's outcomes. */
  private async collect(key: string): Promise<void> {
    const w = this.waiting.get(key);
    if (!w || w.collecting) return;
    w.collecting = true;
    try {
      const job = await Job.fromId(this.queue, key);
      if (!job || !job.finishedOn) return;
      const outcomes = await this.kind.outcomes(job, w.items);
      if (outcomes) {
        this.finish(key, outcomes);
      } else {
        // its results are gone (e.g. expired): do the batch again
        await this.queue.remove(key);
        await this.enqueue(key);
      }
    } finally {
      w.collecting = false;
    }
  }

  /** Looks at one outstanding job: collects it when finished, re-sends it when the queue lost it. */
  private async checkOne(key: string): Promise<void> {
    const w = this.waiting.get(key);
    if (!w || w.collecting) return;
    const state = await this.queue.getJobState(key);
    if (state === 'completed') {
      await this.collect(key);
    } else if (state === 'failed') {
      const job = await Job.fromId(this.queue, key);
      const reason = job?.failedReason || 'unknown reason';
      if (w.items.length > 1) this.split(key, w);
      else this.finish(key, [this.kind.failed(w.items[0], reason)]);
    } else if (state === 'unknown') {
      await this.enqueue(key);
    }
  }

  /**
   * A batch that failed on every attempt (its workers threw, or died holding it) is sent again
   * one file per job, so a file that kills workers is isolated: it alone gets a 'failed' row.
   */
  private split(key: string, w: Waiter<I, O>): void {
    this.waiting.delete(key);
    void this.queue.remove(key).catch(() => undefined);
    const keys = w.items.map((it) => this.kind.itemKey(it));
    Promise.all(w.items.map((it, i) => this.run(keys[i], [it]))).then(
      (parts) => {
        for (const k of new Set(keys)) void this.written(k);
        for (const s of w.settle) s.resolve(parts.map((p) => p[0]));
      },
      (err) => { for (const s of w.settle) s.reject(err); },
    );
  }

  /**
   * Every reconcileMs: a quick health check first (on its own connection, failing fast while
   * Redis is down, so an outage is noticed even while a check of the jobs hangs), then, while
   * Redis answers, a check of every outstanding batch.
   */
  private async tick(): Promise<void> {
    if (this.pinging || this.waiting.size === 0) return;
    this.pinging = true;
    try {
      await Promise.race([this.clients.health.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref())]);
    } catch (err) {
      this.outage(err);
      return;
    } finally {
      this.pinging = false;
    }
    if (this.outageSince !== null) {
      this.outageSince = null;
      this.opts.onStatus?.(`Redis at ${this.addr.display} is back: re-sending batches it lost`);
    }
    if (!this.reconciling) void this.reconcile();
  }

  private async reconcile(): Promise<void> {
    this.reconciling = true;
    try {
      for (const key of [...this.waiting.keys()]) await this.checkOne(key);
      if (!this.warnedNoWorker && Date.now() - this.lastProgress > Math.max(10_000, 3 * this.opts.reconcileMs) && (await this.queue.getWorkersCount()) === 0) {
        this.warnedNoWorker = true;
        this.opts.onStatus?.(`no worker is serving queue ${this.kind.queue} on ${this.addr.display}: ${this.kind.noWorker}`);
      }
    } catch {
      // Redis went away during the pass: the health check reports it, the next pass starts over
    } finally {
      this.reconciling = false;
    }
  }

  private outage(err: unknown): void {
    const now = Date.now();
    if (this.outageSince === null) {
      this.outageSince = now;
      this.opts.onStatus?.(`Redis at ${this.addr.display} is unreachable (${(err as Error).message}): waiting for it; rows written so far are safe`);
    } else if (now - this.outageSince > this.opts.maxOutageMs) {
      this.rejectAll(new QueueError(`Redis at ${this.addr.display} has been unreachable for ${Math.round((now - this.outageSince) / 1000)} s: stopped. Rows written so far are kept; run the same screening again to resume`));
    }
  }

  /** Drops a batch's job once its outcomes are safely stored. */
  async written(key: string): Promise<void> {
    // best effort: a job left behind (Redis down now) is collected again and skipped, or expires
    void this.queue.remove(key).catch(() => undefined);
    if (this.kind.discard) void this.kind.discard(key).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    // a clean close needs Redis; when it is gone, stop waiting after a moment: the connections
    // are ours, and dropping them ends their reconnection attempts
    await Promise.race([this.queue.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    for (const c of Object.values(this.clients)) c.disconnect();
  }
}

/** The Redis clients a coordinator owns: the queue's, one for the event stream, one for health checks. */
interface CoordinatorClients {
  queue: Redis;
  events: Redis;
  health: Redis;
}

/**
 * Connects to the Redis at `url` (a clear error when it does not answer) and returns a
 * coordinator for jobs of `kind` (made with the queue's first client, e.g. to read results).
 */
export async function openCoordinator<I, O>(url: string, makeKind: (client: Redis) => JobKind<I, O>, options: Partial<CoordinatorOptions> = {}): Promise<QueueCoordinator<I, O>> {
  const addr = parseRedisUrl(url);
  const opts: CoordinatorOptions = { ...DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  await checkRedis(addr);
  const connection = connectionOptions(addr);
  const clients: CoordinatorClients = {
    queue: new Redis(connection),
    events: new Redis({ ...connection, maxRetriesPerRequest: null }),
    health: new Redis({ ...connection, enableOfflineQueue: false, maxRetriesPerRequest: 1 }),
  };
  // outages are reported through onStatus by the periodic check; the clients' own errors are noise
  for (const c of Object.values(clients)) c.on('error', () => undefined);
  const kind = makeKind(clients.queue);
  const queue = new Queue(kind.queue, { connection: clients.queue, prefix: QUEUE_PREFIX });
  queue.on('error', () => undefined);
  await queue.waitUntilReady();
  return new QueueCoordinator(addr, kind, queue, clients, opts);
}

/** Screening jobs of one model: batches of files, one outcome per file as the job's result. */
function screenJobs(model: ModelInfo, gate: boolean): JobKind<BatchItem, ItemOutcome> {
  return {
    queue: queueName('screen', model.id),
    jobName: SCREEN_JOB,
    payload: (items): ScreenJobData => ({ v: 1, model: model.id, gate, items: items.map((i) => ({ path: i.path, sha256: i.sha256 ?? '' })) }),
    outcomes: async (job, items) => outcomesOf(job.returnvalue, items.length)
      ?? items.map((it) => ({ error: `${it.path}: the worker returned a malformed result (is it the same deep-covid version?)`, kind: 'failed' })),
    failed: (it, reason) => ({ error: `${it.path}: failed on every attempt (${reason})`, kind: 'failed' }),
    itemKey: (it) => batchKey(model.id, [it.sha256 ?? ''], gate),
    noWorker: `start workers with run ${model.runId} (model ${model.id.slice(0, 12)}…)`,
  };
}

/**
 * Connects to the Redis at `url` (a clear error when it does not answer) and returns an
 * executor that sends batches to `deep-covid worker` processes serving the same model.
 */
export function openQueueExecutor(url: string, model: ModelInfo, options: Partial<CoordinatorOptions> = {}): Promise<BatchExecutor> {
  return openCoordinator(url, () => screenJobs(model, options.gate !== false), options);
}
