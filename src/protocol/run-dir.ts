import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RunError } from '../errors.js';
import { headFromJSON } from '../head/index.js';
import type { Head } from '../head/index.js';
import type { EvaluationReport } from '../evaluate/index.js';
import type { ModelManifest } from '../backbone/manifest.js';
import type { WeightsProvenance } from '../backbone/registry.js';
import type { ProtocolConfig } from './config.js';

/** Counts of one part of the data. */
export interface PartCounts {
  n: number;
  covid: number;
}

/** Everything about a run except the bulky files: stored as run.json. */
export interface RunRecord {
  format: 'deep-covid-run';
  version: 1;
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
  training: { bestEpoch: number; bestValLoss: number; epochs: number };
  threshold: {
    value: number;
    chosenOn: 'validation';
    targetSensitivity: number;
    /** True when validation could not reach the target and 0.5 was used instead. */
    fallback: boolean;
  };
  timings: Record<string, number>;
}

/** A run loaded from disk. */
export interface LoadedRun {
  dir: string;
  record: RunRecord;
  head: Head;
  metrics: EvaluationReport | null;
}

/** Files of a run, written together. */
export type RunFiles = Record<string, string>;

/** Fails early when `dir` exists and `force` is not set, so no work is wasted. */
export async function assertRunDirFree(dir: string, force: boolean): Promise<void> {
  const exists = await stat(dir).then(() => true, () => false);
  if (exists && !force) throw new RunError(`${dir} already exists: choose another --out or pass --force to replace it`);
}

/**
 * Writes a run directory atomically: all files go into a hidden sibling folder that is renamed
 * into place at the end, so a crash leaves either the old run or the complete new one.
 */
export async function writeRunDir(dir: string, files: RunFiles, force: boolean): Promise<void> {
  const target = resolve(dir);
  await assertRunDirFree(target, force);
  await mkdir(dirname(target), { recursive: true });
  const tag = randomBytes(4).toString('hex');
  const tmp = join(dirname(target), `.${basename(target)}.partial-${tag}`);
  await mkdir(tmp);
  try {
    for (const [name, text] of Object.entries(files)) {
      await mkdir(dirname(join(tmp, name)), { recursive: true });
      await writeFile(join(tmp, name), text);
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

/** Loads a run directory written by `train`. */
export async function readRunDir(dir: string): Promise<LoadedRun> {
  const abs = resolve(dir);
  const read = async (name: string) => {
    try {
      return await readFile(join(abs, name), 'utf8');
    } catch {
      throw new RunError(`${abs} is not a complete run directory: ${name} is missing (train one with: deep-covid train --data DIR --out ${dir})`);
    }
  };
  let record: RunRecord;
  try {
    record = JSON.parse(await read('run.json')) as RunRecord;
  } catch (err) {
    if (err instanceof RunError) throw err;
    throw new RunError(`${join(abs, 'run.json')} is not valid JSON`, { cause: err });
  }
  if (record.format !== 'deep-covid-run') throw new RunError(`${join(abs, 'run.json')} is not a deep-covid run record`);
  const head = headFromJSON(JSON.parse(await read('head.json')), join(abs, 'head.json'));
  const metricsText = await readFile(join(abs, 'metrics.json'), 'utf8').catch(() => null);
  return { dir: abs, record, head, metrics: metricsText ? (JSON.parse(metricsText) as EvaluationReport) : null };
}
