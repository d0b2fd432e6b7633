import { readFile } from 'node:fs/promises';
import { sha256Hex } from '../util/hash.js';
import { createProgress, type ProgressListener } from '../util/progress.js';
import type { BatchItem, ItemOutcome, ModelInfo } from './model.js';
import { GATE_NOT_ASSESSED, type ResultsFile, type ScreenRow } from './results.js';
import type { ScreenInput } from './source.js';
import { RowTally, type ScreenSummary } from './summary.js';

/** Runs batches of files through a model: in this process, or on queue workers. */
export interface BatchExecutor {
  /** Batches in flight at once (each is read and hashed before it is sent). */
  readonly concurrency: number;
  /** One outcome per item, in order. `key` identifies the batch's content and model. */
  run(key: string, items: BatchItem[], signal?: AbortSignal): Promise<ItemOutcome[]>;
  /** Called once the batch's rows are durably written (a queue drops the finished job then). */
  written?(key: string): Promise<void>;
  close(): Promise<void>;
}

/** Options of `driveScreen`. */
export interface DriveOptions {
  inputs: ScreenInput[];
  results: ResultsFile;
  /** Rows the results file already held. */
  existing: ScreenRow[];
  model: ModelInfo;
  executor: BatchExecutor;
  batchSize: number;
  /** false: the input gate refuses nothing (default true). */
  gate?: boolean;
  /** Events over the inputs: done = inputs with a row; fromCache = those skipped or copied (no prediction). */
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

type Hashed = { input: ScreenInput; sha256: string } | { input: ScreenInput; readError: string };

async function hashInput(input: ScreenInput): Promise<Hashed> {
  try {
    return { input, sha256: sha256Hex(await readFile(input.path)) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, not an image' : `cannot read file (${code ?? String(err)})`;
    return { input, readError: `${input.path}: ${why}` };
  }
}

/** Runs at most `n` calls at once, in order of arrival (a freed slot is handed to the next caller). */
export function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (active < n) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

/** File reads at once while hashing: a queue's window of hundreds of batches must not open thousands of files. */
export const HASH_READS = 32;

/**
 * Calls `batch(start)` for start = 0, size, 2·size, … below `total`, `lanes` batches at a time,
 * in order. The first failure stops new batches (every lane is awaited, then it is thrown); a
 * stop request abandons the batches in flight (their work is not recorded, so a rerun does them).
 * Resolves true when stopped by the signal.
 */
export async function inLanes(total: number, size: number, lanes: number, batch: (start: number) => Promise<void>, signal?: AbortSignal): Promise<boolean> {
  let next = 0;
  let stopped = false;
  const lane = async () => {
    while (next < total) {
      if (signal?.aborted) {
        stopped = true;
        return;
      }
      const start = next;
      next += size;
      try {
        await batch(start);
      } catch (err) {
        if (signal?.aborted) {
          stopped = true;
          return;
        }
        throw err;
      }
    }
  };
  // the first failure stops the others from taking new batches; every lane is awaited before returning
  const settled = await Promise.allSettled(Array.from({ length: Math.max(1, lanes) }, () => lane().catch((err) => { next = total; throw err; })));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return stopped;
}

/** The key of a batch: its items' content hashes, the model and the gate setting (a queue job id, so re-sending is idempotent). */
export function batchKey(modelId: string, sha256s: string[], gate = true): string {
  return `b${sha256Hex(`${modelId}${gate ? '' : '\ngate off'}\n${sha256s.join('\n')}`)}`;
}

/**
 * Screens inputs in fixed batches of consecutive inputs (the same batches on every run), with
 * `executor.concurrency` batches in flight: while one batch is predicted the next is read and
 * hashed. An input whose name and content already have a row is skipped; one whose content has
 * a row under another name gets a copy of it; the rest are predicted. Rows are appended as each
 * batch finishes, so a crash loses at most the batches in flight and never duplicates a row.
 */
export async function driveScreen(o: DriveOptions): Promise<Omit<ScreenSummary, 'ignored' | 'droppedTornLine'>> {
  const t0 = performance.now();
  const { inputs, model } = o;
  const doneKeys = new Set(o.existing.map((r) => `${r.file}\n${r.sha256}`));
  // content already predicted by this model (under any name): copied instead of predicted again
  const byContent = new Map<string, ScreenRow>();
  for (const r of o.existing) if (r.probability !== null && r.sha256) byContent.set(r.sha256, r);
  const latest = new Map<string, ScreenRow>();
  for (const r of o.existing) latest.set(r.file, r);
  const tally = new RowTally();
  let written = 0;
  let reused = 0;
  let skipped = 0;
  const progress = createProgress({ label: 'screen', unit: 'img', total: inputs.length, onProgress: o.onProgress });

  const row = (input: ScreenInput, sha256: string, outcome: ItemOutcome): ScreenRow => {
    const base = { file: input.name, sha256, threshold: model.threshold, model: model.id };
    if ('probability' in outcome) {
      const decision = outcome.probability >= model.threshold ? 'covid' : 'non';
      return { ...base, probability: outcome.probability, decision, gate: outcome.gate.verdict, gate_reasons: outcome.gate.reasons, error_kind: '', error: '' };
    }
    if ('refused' in outcome) {
      return { ...base, probability: null, decision: 'refused', gate: outcome.gate.verdict, gate_reasons: outcome.gate.reasons, error_kind: '', error: '' };
    }
    return { ...base, probability: null, decision: 'error', gate: GATE_NOT_ASSESSED, gate_reasons: '', error_kind: outcome.kind, error: outcome.error };
  };

  /** The row of `input` copied from `prior`, a row of the same content under another name. */
  const copyOf = (input: ScreenInput, sha256: string, prior: ScreenRow): ScreenRow =>
    row(input, sha256, { probability: prior.probability!, gate: { verdict: prior.gate, reasons: prior.gate_reasons } });
  /** Predicts `items` as one batch; returns its rows (in order) and the batch key. */
  const predict = async (items: { input: ScreenInput; sha256: string }[]): Promise<{ key: string | null; rows: ScreenRow[] }> => {
    if (items.length === 0) return { key: null, rows: [] };
    const key = batchKey(model.id, items.map((t) => t.sha256), o.gate !== false);
    const outcomes = await o.executor.run(key, items.map((t) => ({ path: t.input.path, sha256: t.sha256 })), o.signal);
    return { key, rows: items.map((t, i) => row(t.input, t.sha256, outcomes[i])) };
  };

  const record = async (rows: ScreenRow[]) => {
    await o.results.append(rows);
    for (const r of rows) {
      doneKeys.add(`${r.file}\n${r.sha256}`);
      if (r.probability !== null) byContent.set(r.sha256, r);
      tally.add(r);
    }
    written += rows.length;
  };

  // contents being predicted by a batch in flight: a copy in another lane waits for that row
  // instead of predicting the same bytes again (resolved with undefined when no P(COVID) came of it)
  const pending = new Map<string, Promise<ScreenRow | undefined>>();
  const limit = limiter(HASH_READS);
  const runBatch = async (start: number) => {
    const hashed = await Promise.all(inputs.slice(start, start + o.batchSize).map((input) => limit(() => hashInput(input))));
    const now: ScreenRow[] = [];
    let notPredicted = 0;
    const todo: { input: ScreenInput; sha256: string }[] = [];
    const waits: { input: ScreenInput; sha256: string; prior: Promise<ScreenRow | undefined> }[] = [];
    const settle = new Map<string, (r: ScreenRow | undefined) => void>();
    for (const h of hashed) {
      const sha = 'sha256' in h ? h.sha256 : '';
      if (doneKeys.has(`${h.input.name}\n${sha}`)) {
        tally.add(latest.get(h.input.name)!);
        skipped++;
        notPredicted++;
      } else if ('readError' in h) {
        now.push(row(h.input, '', { error: h.readError, kind: 'unreadable' }));
      } else if (byContent.has(h.sha256)) {
        now.push(copyOf(h.input, h.sha256, byContent.get(h.sha256)!));
        reused++;
        notPredicted++;
      } else if (pending.has(h.sha256)) {
        waits.push({ ...h, prior: pending.get(h.sha256)! });
      } else {
        todo.push(h);
        pending.set(h.sha256, new Promise((resolve) => settle.set(h.sha256, resolve)));
      }
    }
    let key: string | null = null;
    try {
      const done = await predict(todo);
      key = done.key;
      for (const r of done.rows) {
        now.push(r);
        settle.get(r.sha256)?.(r.probability !== null ? r : undefined);
      }
    } finally {
      for (const [sha, resolve] of settle) {
        resolve(undefined);
        pending.delete(sha);
      }
    }
    // copies of contents another batch was predicting: its row, or their own prediction when it gave none
    const again: { input: ScreenInput; sha256: string }[] = [];
    for (const w of waits) {
      const prior = await w.prior;
      if (!prior) {
        again.push(w);
        continue;
      }
      now.push(copyOf(w.input, w.sha256, prior));
      reused++;
      notPredicted++;
    }
    const redone = await predict(again);
    now.push(...redone.rows);
    // every name is in one batch only (sources are de-duplicated), so no other batch writes these rows
    await record(now);
    if (key) await o.executor.written?.(key);
    if (redone.key) await o.executor.written?.(redone.key);
    progress.tick(hashed.length, notPredicted);
  };

  let stopped: boolean;
  try {
    stopped = await inLanes(inputs.length, o.batchSize, o.executor.concurrency, runBatch, o.signal);
  } finally {
    progress.done();
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    inputs: inputs.length, skipped, written, reused, byDecision: tally.byDecision, byErrorKind: tally.byErrorKind,
    seconds, rowsPerSecond: written / Math.max(seconds, 1e-9), stopped,
  };
}
