/**
 * A bounded inference queue: at most `concurrency` jobs run at once and at most `maxQueued` wait.
 * Anything beyond that is refused at once with a BusyError (HTTP 503 + Retry-After), so a burst of
 * uploads can never pile up in memory behind a slow model.
 */

/** Thrown when the queue is full; carries a suggested wait in whole seconds. */
export class BusyError extends Error {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super(`the server is busy with other X-rays; try again in ${retryAfterSeconds} s`);
    this.name = 'BusyError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Settings of an InferenceQueue. */
export interface QueueOptions {
  /** Jobs that may run at the same time (≥ 1). */
  concurrency: number;
  /** Jobs that may wait for a free slot (≥ 0); 0 = refuse whenever all slots are busy. */
  maxQueued: number;
}

/** A counting semaphore with a bounded waiting line and a running estimate of job duration. */
export class InferenceQueue {
  readonly concurrency: number;
  readonly maxQueued: number;
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  /** Exponential moving average of job duration in ms (starts at 1 s, a guess before the first job). */
  private avgMs = 1000;

  constructor(opts: QueueOptions) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new RangeError(`queue concurrency must be a whole number ≥ 1, got ${opts.concurrency}`);
    if (!Number.isInteger(opts.maxQueued) || opts.maxQueued < 0) throw new RangeError(`queue length must be a whole number ≥ 0, got ${opts.maxQueued}`);
    this.concurrency = opts.concurrency;
    this.maxQueued = opts.maxQueued;
  }

  /** Jobs running now. */
  get running(): number {
    return this.active;
  }

  /** Jobs waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** True when a new job would be refused. */
  get full(): boolean {
    return this.active >= this.concurrency && this.waiters.length >= this.maxQueued;
  }

  /** Seconds a refused client should wait: the work ahead of it divided among the slots, 1..60. */
  retryAfterSeconds(): number {
    const ahead = this.active + this.waiters.length;
    return Math.min(60, Math.max(1, Math.ceil((ahead * this.avgMs) / this.concurrency / 1000)));
  }

  /** Runs `job` when a slot is free; throws BusyError at once when the waiting line is full. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.active < this.concurrency) {
      this.active++;
    } else if (this.waiters.length < this.maxQueued) {
      // the slot is handed over by release(): `active` is not decremented in between
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    } else {
      throw new BusyError(this.retryAfterSeconds());
    }
    const t0 = performance.now();
    try {
      return await job();
    } finally {
      this.avgMs = 0.8 * this.avgMs + 0.2 * (performance.now() - t0);
      this.release();
    }
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.active--;
  }
}
