/**
 * Everything a report reads from a run folder: run.json and metrics.json (through readRunDir),
 * the per-image test predictions, the training history, and the optional files other tools add
 * (shortcut-check.json, explanations/*.png).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunError } from '../errors.js';
import { readRunDir, RUN_FILES, type RunRecord } from '../protocol/run-folder.js';
import type { EvaluationReport } from '../evaluate/index.js';
import { parseCsv } from '../util/csv.js';

/** One test image's prediction (a row of predictions.csv). */
export interface PredictionRow {
  file: string;
  /** 1 = COVID. */
  label: 0 | 1;
  probability: number;
  patient: string;
  source: string;
  view: string;
}

/** One epoch of history.csv. */
export interface HistoryRow {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  valAccuracy: number;
  best: boolean;
}

/** An explanation image found under <run>/explanations/. */
export interface ExplanationImage {
  /** Path relative to the explanations folder, '/'-separated. */
  name: string;
  png: Buffer;
}

/** A run folder as the report sees it. */
export interface ReportRun {
  dir: string;
  record: RunRecord;
  metrics: EvaluationReport | null;
  predictions: PredictionRow[];
  history: HistoryRow[];
  /** Parsed shortcut-check.json, or null when the run has none. */
  shortcutCheck: unknown;
  explanations: ExplanationImage[];
}

async function optionalText(path: string): Promise<string | null> {
  return readFile(path, 'utf8').catch(() => null);
}

function finite(v: string | undefined, file: string, row: number, column: string): number {
  const n = Number(v);
  if (v === undefined || v === '' || !Number.isFinite(n)) throw new RunError(`${file}: row ${row + 2} has no numeric ${column} ("${v ?? ''}"); re-create the run with deep-covid train`);
  return n;
}

/** Parses predictions.csv text (columns file, label, probability, patient, source, view). */
export function parsePredictions(text: string, file = 'predictions.csv'): PredictionRow[] {
  return parseCsv(text).map((r, i) => ({
    file: r.file ?? '',
    label: r.label === 'covid' ? 1 : 0,
    probability: finite(r.probability, file, i, 'probability'),
    patient: r.patient ?? '',
    source: r.source ?? '',
    view: r.view ?? '',
  }));
}

/** Parses history.csv text (columns epoch, train_loss, val_loss, val_accuracy, best_so_far). */
export function parseHistory(text: string, file = 'history.csv'): HistoryRow[] {
  return parseCsv(text).map((r, i) => ({
    epoch: finite(r.epoch, file, i, 'epoch'),
    trainLoss: finite(r.train_loss, file, i, 'train_loss'),
    valLoss: finite(r.val_loss, file, i, 'val_loss'),
    valAccuracy: finite(r.val_accuracy, file, i, 'val_accuracy'),
    best: r.best_so_far === '1',
  }));
}

async function listPngs(dir: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(join(dir, prefix), { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listPngs(dir, rel)));
    else if (e.isFile() && e.name.toLowerCase().endsWith('.png')) out.push(rel);
  }
  // code-point order, not locale order, so every machine lists them alike
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The parsed shortcut-check.json of a run folder, or null when there is none. */
export async function readShortcutCheck(runDir: string): Promise<unknown> {
  const path = join(runDir, RUN_FILES.shortcutCheck);
  const text = await optionalText(path);
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RunError(`${path} is not valid JSON: re-run the shortcut check or delete the file`, { cause: err });
  }
}

/** Loads a run folder with everything the report uses; optional files may be absent. */
export async function loadReportRun(dir: string): Promise<ReportRun> {
  const run = await readRunDir(dir);
  const predText = await optionalText(join(run.dir, RUN_FILES.predictions));
  const histText = await optionalText(join(run.dir, RUN_FILES.history));
  const shortcutCheck = await readShortcutCheck(run.dir);
  const expDir = join(run.dir, 'explanations');
  const explanations: ExplanationImage[] = [];
  for (const name of await listPngs(expDir)) explanations.push({ name, png: await readFile(join(expDir, name)) });
  return {
    dir: run.dir,
    record: run.record,
    metrics: run.metrics,
    predictions: predText ? parsePredictions(predText, join(run.dir, RUN_FILES.predictions)) : [],
    history: histText ? parseHistory(histText, join(run.dir, RUN_FILES.history)) : [],
    shortcutCheck,
    explanations,
  };
}
