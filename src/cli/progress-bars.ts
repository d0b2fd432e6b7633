/**
 * Draws the library's progress events: a bar with rate and ETA on a TTY, a plain line about every
 * 10% or 10 s otherwise. Work served wholly from a cache is said once ("N from cache"), not
 * drawn as a bar at an absurd rate.
 */
import cliProgress from 'cli-progress';
import type { ProgressEvent, ProgressListener } from '../util/progress.js';

interface Drawer {
  update(e: ProgressEvent): void;
  end(e: ProgressEvent): void;
}

function rate(done: number, start: number): number {
  return done / Math.max(1e-3, (Date.now() - start) / 1000);
}

function ttyDrawer(stream: NodeJS.WriteStream, first: ProgressEvent, start: number): Drawer {
  const bar = new cliProgress.SingleBar(
    { format: `${first.label} [{bar}] {value}/{total} ${first.unit} | {rate} ${first.unit}/s | ETA {eta_formatted}`, stream, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(first.total, 0, { rate: '0.0' });
  return {
    update(e) {
      bar.update(e.done, { rate: rate(e.done - (e.fromCache ?? 0), start).toFixed(1) });
    },
    end() {
      bar.stop();
    },
  };
}

function lineDrawer(stream: NodeJS.WriteStream, start: number): Drawer {
  let lastPct = -1;
  let lastTime = start;
  let lastDone = -1;
  const line = (e: ProgressEvent) => {
    const computed = e.done - (e.fromCache ?? 0);
    const r = rate(computed, start);
    const eta = r > 0 ? (e.total - e.done) / r : 0;
    const cached = e.fromCache ? `, ${e.fromCache} from cache` : '';
    stream.write(`${e.label}: ${e.done}/${e.total} ${e.unit} (${r.toFixed(1)} ${e.unit}/s${cached}, ETA ${eta.toFixed(0)} s)\n`);
    lastDone = e.done;
  };
  return {
    update(e) {
      const pct = Math.floor((e.done / e.total) * 10);
      if (pct > lastPct || Date.now() - lastTime > 10_000) {
        lastPct = pct;
        lastTime = Date.now();
        line(e);
      }
    },
    end(e) {
      if (e.done !== lastDone) line(e);
    },
  };
}

/** A progress listener that draws on `stream` (default stderr). */
export function progressBars(stream: NodeJS.WriteStream = process.stderr): ProgressListener {
  const active = new Map<string, Drawer>();
  // events are held until the first computed unit, so work that is all cached prints one line
  const pending = new Map<string, ProgressEvent>();
  // rates count from the start of the work, not from the first drawn line (else the first line reads thousands per second)
  const started = new Map<string, number>();
  return (e) => {
    if (e.phase === 'start') {
      pending.set(e.label, e);
      started.set(e.label, Date.now());
      return;
    }
    let drawer = active.get(e.label);
    if (!drawer && e.phase === 'update' && e.done > (e.fromCache ?? 0)) {
      const first = pending.get(e.label) ?? e;
      pending.delete(e.label);
      const t0 = started.get(e.label) ?? Date.now();
      drawer = stream.isTTY ? ttyDrawer(stream, first, t0) : lineDrawer(stream, t0);
      active.set(e.label, drawer);
    }
    if (e.phase === 'update') {
      drawer?.update(e);
      return;
    }
    pending.delete(e.label);
    active.delete(e.label);
    started.delete(e.label);
    if (drawer) drawer.end(e);
    else if (e.done > 0) stream.write(`${e.label}: ${e.done} ${e.unit} from cache\n`);
  };
}
