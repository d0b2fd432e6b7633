import cliProgress from 'cli-progress';

/** A progress reporter for long work: a bar with rate and ETA on a TTY, plain lines otherwise. */
export interface Progress {
  tick(n?: number): void;
  done(): void;
}

/** Options for a progress reporter. */
export interface ProgressOptions {
  label: string;
  total: number;
  unit?: string;
  /** Where to write (default process.stderr). Silent when `quiet`. */
  stream?: NodeJS.WriteStream;
  quiet?: boolean;
}

/** Creates a progress reporter. On non-TTY streams it prints a line about every 10% or 10 s. */
export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const unit = opts.unit ?? 'img';
  if (opts.quiet || opts.total === 0) return { tick() {}, done() {} };
  const start = Date.now();
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${opts.label} [{bar}] {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`, stream, hideCursor: true, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(opts.total, 0, { rate: '0.0' });
    let value = 0;
    return {
      tick(n = 1) {
        value += n;
        bar.update(value, { rate: (value / Math.max(1e-3, (Date.now() - start) / 1000)).toFixed(1) });
      },
      done() {
        bar.stop();
      },
    };
  }
  let value = 0;
  let lastPct = -1;
  let lastTime = start;
  const line = () => {
    const secs = (Date.now() - start) / 1000;
    const rate = value / Math.max(1e-3, secs);
    const eta = rate > 0 ? (opts.total - value) / rate : 0;
    stream.write(`${opts.label}: ${value}/${opts.total} ${unit} (${rate.toFixed(1)} ${unit}/s, ETA ${eta.toFixed(0)} s)\n`);
  };
  return {
    tick(n = 1) {
      value += n;
      const pct = Math.floor((value / opts.total) * 10);
      if (pct > lastPct || Date.now() - lastTime > 10_000) {
        lastPct = pct;
        lastTime = Date.now();
        line();
      }
    },
    done() {
      if (value < opts.total) line();
    },
  };
}
