/**
 * Reusable memory for upload bodies. A large body is received into a SharedArrayBuffer that is
 * used again by later uploads, for two reasons: (1) a fresh 50 MiB buffer per upload is 50 MiB of
 * new external memory each time, which makes V8 run full mark-compact collections on the event
 * loop (100+ ms pauses measured under a slow-upload flood); (2) a shared buffer reaches the
 * decoder thread without being copied (postMessage shares it instead of cloning 50 MiB on the
 * event loop).
 */

/** Bodies below this size use ordinary buffers (they cost the garbage collector little). */
export const POOLED_FROM_BYTES = 1024 * 1024;

/** Buffers are kept in sizes rounded up to this, so bodies of similar sizes share them. */
const GRAIN = 4 * 1024 * 1024;

/** A body buffer lent to one request; give it back with `release` once nothing reads it any more. */
export interface BodyLease {
  /** Exactly the requested number of bytes (a view into a larger shared buffer when pooled). */
  readonly bytes: Buffer;
  release(): void;
}

/**
 * A pool of shared body buffers: leased and idle buffers together stay within `keepBytes` (the
 * server's byte budget) whenever the leases alone do, so reuse never doubles the upload memory.
 */
export class UploadBuffers {
  private readonly free: SharedArrayBuffer[] = [];
  private freeBytes = 0;
  private leasedBytes = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  /**
   * @param keepBytes memory kept for uploads, leased and idle together (the server's byte budget)
   * @param largest the largest body that will be asked for (the upload limit): its buffer is not
   *   rounded up beyond it, so a budget of k full-size uploads keeps k buffers for reuse (rounded
   *   up, two 50 MiB bodies took 104 MiB of a 100 MiB budget, and every buffer given back was
   *   dropped and a new one made for the next upload)
   * @param idleMs idle buffers are dropped after this long without a new upload, so a quiet
   *   server gives the memory back
   */
  constructor(private readonly keepBytes: number, private readonly largest = Infinity, private readonly idleMs = 30_000) {}

  /** Idle bytes the pool holds for the next uploads. */
  get idleBytes(): number {
    return this.freeBytes;
  }

  /** A buffer of exactly `size` bytes (its content is left over from earlier use, not zeroed). */
  lease(size: number): BodyLease {
    if (size < POOLED_FROM_BYTES) return { bytes: Buffer.allocUnsafe(size), release: () => {} };
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.trim(), this.idleMs);
    this.idleTimer.unref();
    const want = Math.max(size, Math.min(Math.ceil(size / GRAIN) * GRAIN, this.largest));
    const i = this.free.findIndex((b) => b.byteLength === want);
    let sab: SharedArrayBuffer;
    if (i >= 0) {
      sab = this.free.splice(i, 1)[0];
      this.freeBytes -= sab.byteLength;
    } else {
      sab = new SharedArrayBuffer(want);
    }
    this.leasedBytes += sab.byteLength;
    // idle buffers of other sizes give way to this one
    this.shrinkTo(this.keepBytes - this.leasedBytes);
    let released = false;
    return {
      bytes: Buffer.from(sab, 0, size),
      release: () => {
        if (released) return;
        released = true;
        this.giveBack(sab);
      },
    };
  }

  /** Drops every idle buffer (the garbage collector returns their memory). */
  trim(): void {
    this.free.length = 0;
    this.freeBytes = 0;
  }

  private giveBack(sab: SharedArrayBuffer): void {
    this.leasedBytes -= sab.byteLength;
    // most recently used last; the oldest go first when the pool would exceed its size
    this.free.push(sab);
    this.freeBytes += sab.byteLength;
    this.shrinkTo(this.keepBytes - this.leasedBytes);
  }

  /** Drops the oldest idle buffers until at most `bytes` of idle memory is kept. */
  private shrinkTo(bytes: number): void {
    while (this.freeBytes > bytes && this.free.length > 0) this.freeBytes -= this.free.shift()!.byteLength;
  }
}
