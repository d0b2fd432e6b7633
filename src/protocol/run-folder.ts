/**
 * The run folder, as one versioned schema: its file names, the record's shape, one writer (atomic,
 * and never replacing anything that is not a deep-covid output) and one reader that validates
 * every value the rest of deep-covid relies on, so a damaged or foreign folder is an error naming
 * the file and the field, never a silently wrong prediction.
 */
import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RunError } from '../errors.js';
import { headFromJSON } from '../head/index.js';
import type { Head } from '../head/index.js';
import type { EvaluationReport } from '../evaluate/index.js';
import type { ModelManifest } from '../backbone/manifest.js';
import type { WeightsProvenance } from '../backbone/registry.js';
import type { ProtocolConfig } from './config.js';
import { parseCsv } from '../util/csv.js';

/** `format` of run.json. */
export const RUN_FORMAT = 'deep-covid-run';
/** The schema version this code writes and reads. */
export const RUN_VERSION = 1;

/** The files of a run folder. `record` and `head` are required; the others are optional. */
export const RUN_FILES = Object.freeze({
  record: 'run.json',
  head: 'head.json',
  metrics: 'metrics.json',
  predictions: 'predictions.csv',
  valPredictions: 'val-predictions.csv',
  history: 'history.csv',
  summary: 'summary.md',
  /** Every image the run used: part (train, val, test), path relative to the data root, content sha256. */
  dataFiles: 'data-files.csv',
  /** The input gate's statistics (issue: out-of-distribution detection). */
  gate: 'gate.json',
  /** The source directions the head was kept orthogonal to (robustness option sourceNull). */
  sourceDirections: 'source-directions.json',
  shortcutCheck: 'shortcut-check.json',
  report: 'report.html',
  reportMarkdown: 'report.md',
});

/** The file that marks a `reproduce` folder (one run folder per backbone inside). */
export const REPRODUCE_MARKER = 'comparison.json';

/** Counts of one part of the data. */
export interface PartCounts {
  n: number;
  covid: number;
}

/** Everything about a run except the bulky files: stored as run.json. */
export interface RunRecord {
  format: typeof RUN_FORMAT;
  version: typeof RUN_VERSION;
  id: string;
  createdAt: string;
  config: ProtocolConfig;
  backbone: {
    name: string;
    file: string;
    sha256: string;
    weights: WeightsProvenance;
    note: string;
    manifest: ModelManifest;
  };
  data: {
    root: string;
    origin: 'manifest' | 'folders';
    /** sha256 over the sorted (relative path, content sha256) pairs of every image used. */
    hash: string;
    validationBy: 'patient' | 'image';
    counts: { train: PartCounts; trainAugmented: PartCounts; val: PartCounts; test: PartCounts | null };
    failures: { file: string; message: string }[];
  };
  training: {
    bestEpoch: number;
    bestValLoss: number;
    epochs: number;
    /** Source nulling (absent when off): how many directions were removed, from how many classifier fits. */
    sourceNull?: { iterations: number; directions: number; fits: number; file: string };
  };
  threshold: {
    value: number;
    chosenOn: 'validation';
    targetSensitivity: number;
    /** True when validation could not reach the target and 0.5 was used instead. */
    fallback: boolean;
  };
  timings: Record<string, number>;
}

/** A run loaded from disk and validated. */
export interface LoadedRun {
  dir: string;
  record: RunRecord;
  head: Head;
  metrics: EvaluationReport | null;
}

/** Files of a run, written together: name → content. */
export type RunFiles = Record<string, string | Uint8Array>;

/** What is at a path, as far as replacing it is concerned. */
export type FolderKind = 'missing' | 'empty' | 'run' | 'ensemble' | 'reproduce' | 'unfinished' | 'other';

/** The file that marks an ensemble folder (see ensemble.ts). */
export const ENSEMBLE_MARKER = 'ensemble.json';

const UNFINISHED = /^\..+\.(partial|old)-[0-9a-f]+$/;

/** Says what a path holds: nothing, an empty folder, a run or reproduce folder, an unfinished write, or anything else. */
export async function folderKind(dir: string): Promise<FolderKind> {
  const st = await stat(dir).catch(() => null);
  if (!st) return 'missing';
  if (!st.isDirectory()) return 'other';
  if (UNFINISHED.test(basename(dir))) return 'unfinished';
  const names = await readdir(dir);
  if (names.length === 0) return 'empty';
  if (names.includes(RUN_FILES.record)) {
    // a damaged run.json still marks a run folder (reading it then says what is wrong)
    const text = await readFile(join(dir, RUN_FILES.record), 'utf8').catch(() => '');
    let rec: unknown = null;
    try {
      rec = JSON.parse(text);
    } catch {
      if (text.includes(`"${RUN_FORMAT}"`)) return 'run';
    }
    if (isObject(rec) && rec.format === RUN_FORMAT) return 'run';
  }
  if (names.includes(ENSEMBLE_MARKER)) return 'ensemble';
  if (names.includes(REPRODUCE_MARKER)) return 'reproduce';
  return 'other';
}

/**
 * Checks, before any work, that `dir` can receive a new run (or reproduce) folder: it must not
 * exist, or `replace` must be set and it must be a deep-covid output of that kind (or empty) —
 * never any other folder or file — and its parent must be writable.
 */
export async function prepareRunOutput(dir: string, opts: { replace: boolean; kind?: 'run' | 'ensemble' | 'reproduce' }): Promise<void> {
  const target = resolve(dir);
  const want = opts.kind ?? 'run';
  const kind = await folderKind(target);
  if (kind !== 'missing') {
    if (!opts.replace) throw new RunError(`${target} already exists: choose another output folder, or allow replacing it`);
    if (kind !== 'empty' && kind !== want) {
      throw new RunError(`${target} is not a deep-covid ${want} folder (it holds ${kind === 'other' ? 'other files' : `a ${kind} folder`}): refusing to replace it; choose another output folder`);
    }
  }
  const parent = dirname(target);
  try {
    await mkdir(parent, { recursive: true });
    await access(parent, constants.W_OK);
  } catch (err) {
    throw new RunError(`cannot write the output folder ${target}: ${(err as NodeJS.ErrnoException).code ?? String(err)} on ${parent}`, { cause: err });
  }
}

/**
 * Writes a run folder atomically: all files go into a hidden sibling folder that is renamed into
 * place at the end, so a crash leaves either the old run or the complete new one.
 */
export async function writeRunDir(dir: string, files: RunFiles, replace: boolean, kind: 'run' | 'ensemble' = 'run'): Promise<void> {
  const target = resolve(dir);
  await prepareRunOutput(target, { replace, kind });
  const tag = randomBytes(4).toString('hex');
  const tmp = join(dirname(target), `.${basename(target)}.partial-${tag}`);
  await mkdir(tmp);
  try {
    for (const [name, content] of Object.entries(files)) {
      await mkdir(dirname(join(tmp, name)), { recursive: true });
      await writeFile(join(tmp, name), content);
    }
    const old = join(dirname(target), `.${basename(target)}.old-${tag}`);
    const replaced = await rename(target, old).then(() => true, () => false);
    await rename(tmp, target);
    if (replaced) await rm(old, { recursive: true, force: true });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates run.json's content; every error names the file and the field. */
export function validateRunRecord(value: unknown, file: string): RunRecord {
  const bad = (field: string, why: string): never => {
    throw new RunError(`${file}: ${field} ${why}; the run folder is damaged or was not written by deep-covid (train the run again)`);
  };
  if (!isObject(value)) return bad('the record', 'is not a JSON object');
  if (value.format !== RUN_FORMAT) return bad('format', `is ${JSON.stringify(value.format)}, not "${RUN_FORMAT}"`);
  if (value.version !== RUN_VERSION) {
    if (typeof value.version === 'number' && value.version > RUN_VERSION) throw new RunError(`${file}: run folder version ${value.version} was written by a newer deep-covid (this one reads version ${RUN_VERSION}): upgrade deep-covid`);
    return bad('version', `is ${JSON.stringify(value.version)}, expected ${RUN_VERSION}`);
  }
  const str = (o: Record<string, unknown>, k: string, path: string) => (typeof o[k] === 'string' && o[k] !== '' ? (o[k] as string) : bad(path, 'must be a non-empty string'));
  const num = (o: Record<string, unknown>, k: string, path: string, lo = -Infinity, hi = Infinity) => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) return bad(path, `must be a finite number, got ${JSON.stringify(v)}`);
    if (v < lo || v > hi) return bad(path, `must lie in [${lo}, ${hi}], got ${v}`);
    return v;
  };
  const obj = (o: Record<string, unknown>, k: string, path: string) => (isObject(o[k]) ? (o[k] as Record<string, unknown>) : bad(path, 'is missing or not an object'));
  str(value, 'id', 'id');
  const backbone = obj(value, 'backbone', 'backbone');
  str(backbone, 'name', 'backbone.name');
  str(backbone, 'file', 'backbone.file');
  if (typeof backbone.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(backbone.sha256)) bad('backbone.sha256', 'must be 64 hex digits');
  if (!['imagenet', 'synthetic', 'unknown'].includes(backbone.weights as string)) bad('backbone.weights', 'must be imagenet, synthetic or unknown');
  const manifest = obj(backbone, 'manifest', 'backbone.manifest');
  const head = obj(manifest, 'head', 'backbone.manifest.head');
  if (head.kind !== 'linear' && head.kind !== 'squeezenet-conv') bad('backbone.manifest.head.kind', 'must be linear or squeezenet-conv');
  const pre = obj(manifest, 'preprocess', 'backbone.manifest.preprocess');
  if (!Array.isArray(pre.crop) || pre.crop.length !== 2 || !pre.crop.every((v) => Number.isInteger(v) && (v as number) > 0)) bad('backbone.manifest.preprocess.crop', 'must be [height, width]');
  const threshold = obj(value, 'threshold', 'threshold');
  num(threshold, 'value', 'threshold.value', 0, 1);
  num(threshold, 'targetSensitivity', 'threshold.targetSensitivity', 0, 1);
  const config = obj(value, 'config', 'config');
  str(config, 'positiveClass', 'config.positiveClass');
  if (!Array.isArray(config.thresholds) || !config.thresholds.every((t) => typeof t === 'number' && t >= 0 && t <= 1)) bad('config.thresholds', 'must be a list of numbers in [0, 1]');
  num(config, 'targetSensitivity', 'config.targetSensitivity', 0, 1);
  const data = obj(value, 'data', 'data');
  str(data, 'hash', 'data.hash');
  obj(data, 'counts', 'data.counts');
  const training = obj(value, 'training', 'training');
  num(training, 'bestEpoch', 'training.bestEpoch', 0);
  return value as unknown as RunRecord;
}

/** Lists the run folders inside a reproduce folder. */
async function runsInside(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: string[] = [];
  for (const n of names.sort()) if ((await folderKind(join(dir, n))) === 'run') out.push(join(dir, n));
  return out;
}

/** Loads and validates a run folder written by `train`. */
export async function readRunDir(dir: string): Promise<LoadedRun> {
  const abs = resolve(dir);
  const kind = await folderKind(abs);
  if (kind === 'missing') throw new RunError(`${abs} does not exist: give the folder a training run wrote (train one with deep-covid train)`);
  if (kind === 'unfinished') throw new RunError(`${abs} is an unfinished run folder (a write that did not complete): use the complete run folder beside it, or train again`);
  if (kind === 'ensemble') throw new RunError(`${abs} is an ensemble of runs, not one run: load it as a model (DeepCovidModel-compatible loadModel), or pick one of its member runs`);
  if (kind === 'reproduce') {
    const runs = await runsInside(abs);
    throw new RunError(`${abs} is a reproduce folder, not one run: pick one of ${runs.length ? runs.join(', ') : '(none found)'}`);
  }
  const read = async (name: string) => {
    try {
      return await readFile(join(abs, name), 'utf8');
    } catch {
      throw new RunError(`${abs} is not a complete run folder: ${name} is missing (train one with deep-covid train)`);
    }
  };
  const parse = (text: string, name: string): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new RunError(`${join(abs, name)} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  };
  const record = validateRunRecord(parse(await read(RUN_FILES.record), RUN_FILES.record), join(abs, RUN_FILES.record));
  const head = headFromJSON(parse(await read(RUN_FILES.head), RUN_FILES.head), join(abs, RUN_FILES.head));
  const metricsText = await readFile(join(abs, RUN_FILES.metrics), 'utf8').catch(() => null);
  let metrics: EvaluationReport | null = null;
  if (metricsText !== null) {
    const m = parse(metricsText, RUN_FILES.metrics);
    if (!isObject(m) || !isObject(m.operatingPoint)) throw new RunError(`${join(abs, RUN_FILES.metrics)} is not a deep-covid metrics file (no operatingPoint)`);
    metrics = m as unknown as EvaluationReport;
  }
  return { dir: abs, record, head, metrics };
}

/** Reads an optional JSON file of a run folder (null when absent). */
export async function readRunJson<T>(run: { dir: string }, name: string): Promise<T | null> {
  const text = await readFile(join(run.dir, name), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new RunError(`${join(run.dir, name)} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** One row of data-files.csv. */
export interface DataFileRow {
  part: 'train' | 'val' | 'test';
  file: string;
  sha256: string;
}

/** The images a run was trained, validated and tested on, by content (empty for runs written before this file existed). */
export async function readDataFiles(run: { dir: string }): Promise<DataFileRow[]> {
  const text = await readFile(join(run.dir, RUN_FILES.dataFiles), 'utf8').catch(() => null);
  if (text === null) return [];
  const rows = parseCsv(text);
  return rows.map((r, i) => {
    if ((r.part !== 'train' && r.part !== 'val' && r.part !== 'test') || !/^[0-9a-f]{64}$/.test(r.sha256 ?? '')) {
      throw new RunError(`${join(run.dir, RUN_FILES.dataFiles)}: row ${i + 2} is not "part,file,sha256" with part train, val or test`);
    }
    return { part: r.part, file: r.file ?? '', sha256: r.sha256 };
  });
}
