/**
 * Admission control and the bounded inference queue. A request is admitted (or refused with a
 * BusyError: HTTP 503 + Retry-After) as soon as its headers arrive, before a byte of its body is
 * read: at most `concurrency + maxQueued` requests are in the server at once (uploading, waiting
 * or running), and together they may hold at most `maxBytes` of uploads. So a burst of uploads can
 * never pile up in memory behind a slow model, however slowly or quickly the bodies arrive.
 */

/** Thrown when the queue is full; carries a suggested wait in whole seconds. */
export class BusyError extends Error {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number, reason = 'the server is busy with other X-rays') {
    super(`${reason}; try again in ${retryAfterSeconds} s`);
    this.name = 'BusyError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Settings of an InferenceQueue. */
export interface QueueOptions {
  /** Jobs that may run at the same time (≥ 1). */
  concurrency: number;
  /** Requests that may be admitted beyond the running ones (≥ 0): uploading or waiting for a slot. */
  maxQueued: number;
  /** Upload bytes all admitted requests may hold together (default: unlimited). */
  maxBytes?: number;
}

/**
 * One admitted request: holds its place and its reserved bytes until every holder has let go
 * (the HTTP layer holds it until the response is closed, the handler until it has finished with
 * the upload), so a client that hangs up mid-inference does not free memory that is still in use.
 */
export class Admission {
  private holders = 1;
  private initialHeld = true;

  constructor(private readonly queue: InferenceQueue, readonly bytes: number) {}

  /** Adds a holder; call the returned function to let go (calls after the first do nothing). */
  hold(): () => void {
    this.holders++;
    let held = true;
    return () => {
      if (held) {
        held = false;
        this.drop();
      }
    };
  }

  /** Lets go of the holder `admit` created (calls after the first do nothing). */
  release(): void {
    if (this.initialHeld) {
      this.initialHeld = false;
      this.drop();
    }
  }

  private drop(): void {
    if (--this.holders === 0) this.queue.leave(this);
  }

  /** Runs `job` when an inference slot is free (the admission guarantees a place in line). */
  run<T>(job: () => Promise<T>): Promise<T> {
    return this.queue.runAdmitted(job);
  }
}

/** A counting semaphore behind an admission gate, with a running estimate of job duration. */
export class InferenceQueue {
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly maxBytes: number;
  private admitted = 0;
  private bytes = 0;
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  /** Exponential moving average of job duration in ms (starts at 1 s, a guess before the first job). */
  private avgMs = 1000;

  constructor(opts: QueueOptions) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new RangeError(`queue concurrency must be a whole number ≥ 1, got ${opts.concurrency}`);
    if (!Number.isInteger(opts.maxQueued) || opts.maxQueued < 0) throw new RangeError(`queue length must be a whole number ≥ 0, got ${opts.maxQueued}`);
    const maxBytes = opts.maxBytes ?? Infinity;
    if (!(maxBytes > 0)) throw new RangeError(`queue byte budget must be positive, got ${opts.maxBytes}`);
    this.concurrency = opts.concurrency;
    this.maxQueued = opts.maxQueued;
    this.maxBytes = maxBytes;
  }

  /** Jobs running now. */
  get running(): number {
    return this.active;
  }

  /** Admitted requests not running: reading their upload or waiting for a slot. */
  get waiting(): number {
    return this.admitted - this.active;
  }

  /** Upload bytes reserved by admitted requests. */
  get bytesInFlight(): number {
    return this.bytes;
  }

  /** True when a new request would be refused whatever its size. */
  get full(): boolean {
    return this.admitted >= this.concurrency + this.maxQueued;
  }

  /** Seconds a refused client should wait: the work ahead of it divided among the slots, 1..60. */
  retryAfterSeconds(): number {
    return Math.min(60, Math.max(1, Math.ceil((this.admitted * this.avgMs) / this.concurrency / 1000)));
  }

  /**
   * Admits a request that will hold up to `bytes` of upload, or throws BusyError when the places
   * or the byte budget are taken. A request larger than the whole budget is still admitted when
   * nothing else is in flight (the upload limit, not the budget, decides whether it is too large).
   */
  admit(bytes = 0): Admission {
    if (this.full) throw new BusyError(this.retryAfterSeconds());
    if (this.admitted > 0 && this.bytes + bytes > this.maxBytes) {
      throw new BusyError(this.retryAfterSeconds(), 'the server is receiving as many uploads as its memory budget allows');
    }
    this.admitted++;
    this.bytes += bytes;
    return new Admission(this, bytes);
  }

  /** Called by an Admission when its last holder lets go. */
  leave(a: Admission): void {
    this.admitted--;
    this.bytes -= a.bytes;
  }

  /** Admits, runs `job` when a slot is free and leaves; throws BusyError at once when full. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    const a = this.admit(0);
    try {
      return await a.run(job);
    } finally {
      a.release();
    }
  }

  /** Runs an admitted job when a slot is free. */
  async runAdmitted<T>(job: () => Promise<T>): Promise<T> {
    if (this.active < this.concurrency) this.active++;
    // the slot is handed over by finish(): `active` is not decremented in between
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    const t0 = performance.now();
    try {
      return await job();
    } finally {
      this.avgMs = 0.8 * this.avgMs + 0.2 * (performance.now() - t0);
      this.finish();
    }
  }

  private finish(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.active--;
  }
}
