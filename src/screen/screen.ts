import { UsageError } from '../errors.js';
import type { ProgressListener } from '../util/progress.js';
import { driveScreen, type BatchExecutor } from './drive.js';
import { embeddedExecutor } from './embedded.js';
import { loadScreenModel, readModelInfo, type LoadModelOptions } from './model.js';
import { openQueueExecutor, type CoordinatorOptions } from './queue/coordinator.js';
import { ResultsFile, resultsFormat, type ResultsFormat } from './results.js';
import { listSource } from './source.js';
import type { ScreenSummary } from './summary.js';

/** Options of `screen`. */
export interface ScreenOptions extends LoadModelOptions {
  /** Run folder written by train. */
  run: string;
  /** A folder (walked recursively) or a list of paths (CSV with a `file` column, or one per line). */
  input: string;
  /** Results file: one row per input, appended; rerunning resumes it. */
  out: string;
  /** Default: from the results file's extension. */
  format?: ResultsFormat;
  /**
   * Images per batch: per queue job (default 20) or, here, per call of the model (default 100:
   * fewer pipeline starts; the forward pass still takes 20 at a time). Rows are appended per batch.
   */
  batchSize?: number;
  /**
   * Batches in flight: in this process (default 2, overlapping decoding with inference) or,
   * with `queue`, enqueued and not yet collected (default 256).
   */
  concurrency?: number;
  /** A Redis URL (redis://host:port[/db]): batches go to `deep-covid worker` processes instead. */
  queue?: string;
  queueOptions?: Partial<CoordinatorOptions>;
  /** Progress over the inputs (done = inputs with a row; fromCache = skipped or copied ones). */
  onProgress?: ProgressListener;
  /** Status changes worth telling the user: a queue outage and recovery, no worker serving the queue. */
  onStatus?: (message: string) => void;
  signal?: AbortSignal;
}

/** A screening's summary plus where its rows are. */
export interface ScreenResult extends ScreenSummary {
  out: string;
  format: ResultsFormat;
  modelId: string;
  runId: string;
  /** Where the work was done. */
  mode: 'embedded' | 'queue';
}

/**
 * Screens an archive with a trained run: one results row per input (file, content sha256,
 * P(COVID), decision at the run's threshold, input-gate verdict, error), appended durably as
 * batches finish. Rerunning with the same results file skips what is done, so an interrupted
 * screening resumes. Without `queue` the work runs here; with it, batches are queue jobs for
 * workers on any number of machines, and this process collects their results.
 */
export async function screen(opts: ScreenOptions): Promise<ScreenResult> {
  const batchSize = opts.batchSize ?? (opts.queue ? 20 : 100);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batch size must be a positive whole number, got ${batchSize}`);
  const format = resultsFormat(opts.out, opts.format);
  const info = await readModelInfo(opts.run);
  const source = await listSource(opts.input);
  // connect (or load the model) before the results file is touched: a failure leaves it as it was
  let executor: BatchExecutor;
  if (opts.queue) {
    executor = await openQueueExecutor(opts.queue, info, {
      ...opts.queueOptions,
      window: opts.concurrency ?? opts.queueOptions?.window,
      onStatus: opts.onStatus,
    });
  } else {
    executor = embeddedExecutor(await loadScreenModel(opts.run, opts), opts.concurrency ?? 2);
  }
  let opened;
  try {
    opened = await ResultsFile.open(opts.out, format, info.id);
  } catch (err) {
    await executor.close();
    throw err;
  }
  const { results, rows, droppedTornLine } = opened;
  try {
    const summary = await driveScreen({
      inputs: source.inputs, results, existing: rows, model: info, executor, batchSize, onProgress: opts.onProgress, signal: opts.signal,
    });
    return { ...summary, ignored: source.ignored, droppedTornLine, out: results.path, format, modelId: info.id, runId: info.runId, mode: opts.queue ? 'queue' : 'embedded' };
  } finally {
    await results.close();
    await executor.close();
  }
}
