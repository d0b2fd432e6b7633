/**
 * Progress of long work as events. The library never prints: it calls the `onProgress` listener
 * its caller passed (the CLI draws bars from these events; a server or a test may ignore them).
 */

/** One progress event of a long operation. */
export interface ProgressEvent {
  /** What is being done, e.g. "squeezenet1_1 train features". */
  label: string;
  /** Unit of `done`/`total`, e.g. "img", "epochs", "patch". */
  unit: string;
  /** Units finished so far, and the whole. */
  done: number;
  total: number;
  /** 'start' once, 'update' as work finishes, 'end' once (also when the work failed or stopped). */
  phase: 'start' | 'update' | 'end';
  /** Units served from a cache rather than computed (when the operation has a cache). */
  fromCache?: number;
}

/** Receives progress events. */
export type ProgressListener = (event: ProgressEvent) => void;

/** A progress reporter for one operation. */
export interface Progress {
  /** `n` more units done; `cached` of them came from a cache. */
  tick(n?: number, cached?: number): void;
  done(): void;
}

/** Options for a progress reporter. */
export interface ProgressOptions {
  label: string;
  total: number;
  unit?: string;
  onProgress?: ProgressListener;
}

const SILENT: Progress = { tick() {}, done() {} };

/** Creates a reporter that turns ticks into events for `onProgress` (silent without one). */
export function createProgress(opts: ProgressOptions): Progress {
  const listener = opts.onProgress;
  if (!listener || opts.total === 0) return SILENT;
  const unit = opts.unit ?? 'img';
  let done = 0;
  let fromCache = 0;
  let ended = false;
  const emit = (phase: ProgressEvent['phase']) => listener({ label: opts.label, unit, done, total: opts.total, phase, fromCache });
  emit('start');
  return {
    tick(n = 1, cached = 0) {
      done += n;
      fromCache += cached;
      emit('update');
    },
    done() {
      if (ended) return;
      ended = true;
      emit('end');
    },
  };
}
