/**
 * The one place screening touches the model: a run's backbone + head loaded once, predicting
 * P(COVID) for a batch of files. Everything else in src/screen (embedded runner, queue worker)
 * goes through `ScreenModel`, so moving to the project's model object is a change to this file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackboneOptions } from '../backbone/backbone.js';
import { InputError } from '../errors.js';
import { extractFeatures } from '../features/extract.js';
import { predictProba } from '../head/index.js';
import { loadGreyImage, type LoadLimits } from '../input/load-image.js';
import { readRunDir } from '../protocol/run-dir.js';
import { loadRunBackbone } from '../protocol/run-model.js';
import { sha256Hex } from '../util/hash.js';

/** Who predicts: identity and operating point of a run's model, read without loading the backbone. */
export interface ModelInfo {
  /**
   * sha256 over the backbone file's sha256, its recorded manifest (preprocessing, tensors) and
   * the trained head: equal ids give equal probabilities. Results and queue jobs are keyed by it.
   */
  id: string;
  runId: string;
  runDir: string;
  backbone: string;
  /** The run's operating threshold (chosen on validation). */
  threshold: number;
}

/** What one input of a batch gave. `kind` is an input problem, 'unreadable', 'changed' or 'failed'. */
export type ItemOutcome = { probability: number } | { error: string; kind: string };

/** One file of a batch; `sha256`, when given, must match the content read (else a 'changed' error). */
export interface BatchItem {
  path: string;
  sha256?: string;
}

/** A loaded model that predicts batches of files. */
export interface ScreenModel {
  readonly info: ModelInfo;
  /** One outcome per item, in order. Bad files give error outcomes; only systemic faults throw. */
  predict(items: BatchItem[], opts?: { signal?: AbortSignal }): Promise<ItemOutcome[]>;
  release(): Promise<void>;
}

/** Options for loading a model. */
export interface LoadModelOptions {
  runtime?: BackboneOptions;
  /** The backbone ONNX file, when it moved since training. */
  modelPath?: string;
  limits?: Partial<LoadLimits>;
}

/** Reads a run's model identity and threshold (fast: no ONNX session). */
export async function readModelInfo(runDir: string): Promise<ModelInfo> {
  const run = await readRunDir(runDir);
  const headBytes = await readFile(join(run.dir, 'head.json'));
  const b = run.record.backbone;
  const id = sha256Hex(`deep-covid-model\n${b.sha256}\n${JSON.stringify(b.manifest)}\n${sha256Hex(headBytes)}`);
  return { id, runId: run.record.id, runDir: run.dir, backbone: b.name, threshold: run.record.threshold.value };
}

/** Loads a run's model for screening: the backbone is checked against the run's sha256. */
export async function loadScreenModel(runDir: string, opts: LoadModelOptions = {}): Promise<ScreenModel> {
  const info = await readModelInfo(runDir);
  const run = await readRunDir(runDir);
  const { backbone, tensor } = await loadRunBackbone(run, opts.runtime, opts.modelPath);
  const limits = opts.limits;
  return {
    info,
    async predict(items, predictOpts = {}) {
      predictOpts.signal?.throwIfAborted();
      const res = await extractFeatures(backbone, items.map((it) => ({ file: it.path })), { tensor, batchSize: 20, cache: null, limits, quiet: true });
      const dim = res.dim;
      const okIdx: number[] = [];
      for (let i = 0; i < items.length; i++) if (res.ok[i]) okIdx.push(i);
      const feats = new Float32Array(okIdx.length * dim);
      okIdx.forEach((src, dst) => feats.set(res.features!.subarray(src * dim, (src + 1) * dim), dst * dim));
      const probs = predictProba(run.head, feats);
      const messages = new Map(res.failures.map((f) => [f.file, f.message]));
      const out: ItemOutcome[] = new Array(items.length);
      okIdx.forEach((i, k) => { out[i] = { probability: probs[k] }; });
      for (let i = 0; i < items.length; i++) {
        const { path, sha256 } = items[i];
        if (out[i] && sha256 !== undefined && res.sha256[i] !== sha256) {
          out[i] = { error: `${path}: content changed since it was listed (sha256 ${res.sha256[i].slice(0, 12)}…, expected ${sha256.slice(0, 12)}…)`, kind: 'changed' };
        } else if (!out[i]) {
          out[i] = { error: messages.get(path) ?? `${path}: could not be read`, kind: await problemOf(path, limits) };
        }
      }
      return out;
    },
    release: () => backbone.release(),
  };
}

/** The kind of input problem of a file that failed (read again: failures are rare). */
async function problemOf(path: string, limits: Partial<LoadLimits> | undefined): Promise<string> {
  try {
    await loadGreyImage(path, limits);
    return 'corrupt';
  } catch (err) {
    return err instanceof InputError ? err.problem : 'corrupt';
  }
}
