import { Option, type Command } from 'commander';
import { screen, type ScreenResult } from '../../screen/index.js';
import { runWorker, type WorkerEvent } from '../../screen/queue/worker.js';
import { runFeatureWorker } from '../../screen/queue/feature-worker.js';
import { UsageError } from '../../errors.js';
import { addRuntimeOptions, backboneOptions, positiveInt, progressOf, type RuntimeOptions } from '../common.js';

type IO = { out: (s: string) => void; err: (s: string) => void };

interface ScreenCliOptions extends RuntimeOptions {
  run: string;
  input: string;
  out: string;
  format?: 'csv' | 'jsonl';
  queue?: string;
  batch?: string;
  concurrency?: string;
  model?: string;
  /** false with --no-gate */
  gate?: boolean;
}

interface WorkerCliOptions extends RuntimeOptions {
  run?: string;
  backbone?: string;
  queue: string;
  concurrency: string;
  lockDuration: string;
  stalledInterval: string;
  model?: string;
}

const NOT_DIAGNOSTIC = 'Research software, not a diagnostic device: these probabilities support no clinical decision.';

/** Calls `run` with a signal that Ctrl-C or SIGTERM aborts. */
async function withStopSignal<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const onSignal = () => stop.abort(new Error('stopped by a signal'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await run(stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function summaryLines(r: ScreenResult): string[] {
  const kinds = Object.entries(r.byErrorKind).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
  return [
    `${r.stopped ? 'stopped early (run the same command to resume)' : 'screened'}: ${r.inputs} inputs with run ${r.runId} (model ${r.modelId.slice(0, 12)}…, ${r.mode}); ${r.written} new rows (${r.reused} copied from rows with the same content), ${r.skipped} already done`,
    `  decisions: covid ${r.byDecision.covid}, non ${r.byDecision.non}, refused by the input gate ${r.byDecision.refused}, error ${r.byDecision.error}${kinds ? ` (${kinds})` : ''}`,
    `  results: ${r.out} (${r.format}); ${r.seconds.toFixed(1)} s, ${r.rowsPerSecond.toFixed(1)} rows/s${r.ignored ? `; ${r.ignored} file(s) without an image name ignored` : ''}${r.droppedTornLine ? '; an incomplete last line from an earlier crash was removed first' : ''}`,
    NOT_DIAGNOSTIC,
  ];
}

/** Registers `screen` and `worker`. */
export function registerScreen(program: Command, io: IO): void {
  const cmd = program.command('screen').description('P(COVID) for every image of an archive (a folder or a list): one results row per input, resumable; here or on queue workers')
    .requiredOption('--run <dir>', 'run folder written by train')
    .requiredOption('--input <source>', 'a folder (searched recursively) or a list: CSV with a "file" column, or one path per line')
    .requiredOption('--out <file>', 'results file (.csv or .jsonl); rerunning with the same file resumes it')
    .addOption(new Option('--format <fmt>', 'results format (default: from the --out extension)').choices(['csv', 'jsonl']))
    .option('--queue <url>', 'Redis URL (redis://HOST:PORT): send batches to `deep-covid worker` processes instead of running here')
    .option('--batch <n>', 'images per batch: per queue job (default 20) or, here, per model call (default 100)')
    .option('--concurrency <n>', 'batches in flight: here (default 2, decoding overlaps inference) or, with --queue, enqueued and not yet collected (default 256)')
    .option('--no-gate', 'the input gate refuses nothing; rows still say what it would have refused')
    .option('--model <file>', 'the backbone ONNX file, if it moved since training');
  addRuntimeOptions(cmd).addHelpText('after', `
Rows: file, sha256, probability, decision (covid|non at the run's threshold, refused by the input
gate, or error), threshold, gate (passed|warned|refused), gate_reasons, error_kind, error, model.
Scaling to many machines: docs/scaling.md.
Examples:
  deep-covid screen --run runs/squeezenet --input ../shared/data/covidx5k-dev --out screen.csv
  deep-covid screen --run runs/squeezenet --input archive.csv --out screen.jsonl --queue redis://10.0.0.5:6379`);
  cmd.action(async (o: ScreenCliOptions) => {
    const res: ScreenResult = await withStopSignal((signal) => screen({
        run: o.run, input: o.input, out: o.out, format: o.format, queue: o.queue, gate: o.gate,
        batchSize: o.batch === undefined ? undefined : positiveInt(o.batch, '--batch'),
        concurrency: o.concurrency === undefined ? undefined : positiveInt(o.concurrency, '--concurrency'),
        runtime: backboneOptions(o), modelPath: o.model, limits: { maxPixels: positiveInt(o.maxPixels, '--max-pixels') },
        onProgress: progressOf(o), onStatus: (m) => io.err(m), signal,
      }));
    for (const line of summaryLines(res)) io.out(line);
    const predicted = res.byDecision.covid + res.byDecision.non;
    if (res.stopped) process.exitCode = 130;
    else if (predicted === 0 && res.inputs > 0) process.exitCode = 1;
  });

  const worker = program.command('worker').description('serve screening or feature batches from a Redis queue, until stopped (Ctrl-C / SIGTERM)')
    .requiredOption('--queue <url>', 'Redis URL (redis://HOST:PORT), as given to `screen --queue` or `features --queue`')
    .option('--run <dir>', 'run folder: serve the screenings of this run\'s model')
    .option('--backbone <name>', 'serve feature extraction (`features --queue`) with this backbone')
    .option('--concurrency <n>', 'batches at once (2 overlaps decoding with inference)', '2')
    .option('--lock-duration <ms>', 'a batch returns to the queue this long after its worker died', '30000')
    .option('--stalled-interval <ms>', 'how often to look for batches of dead workers', '30000')
    .option('--model <file>', 'the backbone ONNX file: the run\'s, if it moved since training, or the one for --backbone');
  addRuntimeOptions(worker).addHelpText('after', `
Give --run, --backbone or both. A screening worker needs the run folder, the backbone file it was
trained with (same sha256) and read access to the images at the paths the coordinator lists; a
feature worker needs the same backbone file as the coordinator and the images. See docs/scaling.md.
Examples:
  deep-covid worker --queue redis://10.0.0.5:6379 --run runs/squeezenet
  deep-covid worker --queue redis://10.0.0.5:6379 --backbone squeezenet1_1`);
  worker.action(async (o: WorkerCliOptions) => {
    const stats = { batches: 0, images: 0, errors: 0, since: Date.now() };
    const report = () => io.err(`worker: ${stats.batches} batches, ${stats.images} images (${stats.errors} bad files), ${(stats.images / Math.max(1e-3, (Date.now() - stats.since) / 1000)).toFixed(1)} images/s`);
    let lastReport = Date.now();
    const onEvent = (e: WorkerEvent) => {
      if (e.type === 'ready') io.err(`worker ready: ${e.serves}, queue ${e.queue} on ${e.redis}`);
      else if (e.type === 'error') io.err(`worker: ${e.message}`);
      else {
        stats.batches++;
        stats.images += e.images;
        stats.errors += e.errors;
        if (!o.quiet && Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          report();
        }
      }
    };
    if (!o.run && !o.backbone) throw new UsageError('worker: give --run (screening), --backbone (feature extraction) or both');
    if (o.run && o.backbone && o.model) throw new UsageError('worker: --model names one backbone file: give it with --run or with --backbone, not both');
    await withStopSignal(async (signal) => {
      const serve = {
        queue: o.queue, runtime: backboneOptions(o), limits: { maxPixels: positiveInt(o.maxPixels, '--max-pixels') },
        concurrency: positiveInt(o.concurrency, '--concurrency'),
        lockDurationMs: positiveInt(o.lockDuration, '--lock-duration'),
        stalledIntervalMs: positiveInt(o.stalledInterval, '--stalled-interval'),
        onEvent,
      };
      const served: { close(graceMs?: number): Promise<boolean> }[] = [];
      try {
        if (o.run) served.push(await runWorker({ ...serve, run: o.run, modelPath: o.model }));
        if (o.backbone) served.push(await runFeatureWorker({ ...serve, backbone: o.backbone, runtime: backboneOptions(o, o.model) }));
      } catch (err) {
        await Promise.all(served.map((w) => w.close()));
        throw err;
      }
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
      io.err('worker stopping: finishing the batches in hand');
      const clean = (await Promise.all(served.map((w) => w.close()))).every(Boolean);
      report();
      if (!clean) {
        io.err('worker: a batch was still running after 60 s: exiting anyway (batches in hand return to the queue)');
        process.exit(0);
      }
    });
  });
}
