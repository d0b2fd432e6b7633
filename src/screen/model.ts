/**
 * The one place screening touches the model: a trained run (or ensemble) loaded once through
 * `loadModel`, predicting P(COVID) for a batch of files. Everything else in src/screen (embedded
 * runner, queue worker) goes through `ScreenModel`.
 */
import type { GateResult } from '../gate/index.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModel, type ModelLoadOptions } from '../model/index.js';
import type { LoadLimits } from '../input/load-image.js';
import { folderKind, readRunDir, RUN_FILES, type LoadedRun } from '../protocol/run-folder.js';
import { readEnsembleDir } from '../protocol/ensemble.js';
import { sha256Hex } from '../util/hash.js';

/** Who predicts: identity and operating point of a run's model, read without loading the backbone. */
export interface ModelInfo {
  /**
   * sha256 over each member run's backbone sha256, its recorded manifest (preprocessing, tensors)
   * and trained head (plus an ensemble's way of combining): equal ids give equal probabilities.
   * Results and queue jobs are keyed by it.
   */
  id: string;
  runId: string;
  runDir: string;
  backbone: string;
  /** The operating threshold (chosen on validation). */
  threshold: number;
}

/** What one input of a batch gave. `kind` is an input problem, 'unreadable', 'changed' or 'failed'. */
/**
 * What a model made of one file: a probability (with the gate's verdict in words), a refusal by the
 * input gate (no probability), or an error.
 */
export type ItemOutcome = { probability: number; gate: string } | { refused: true; gate: string } | { error: string; kind: string };

/** The gate's verdict as one results cell: "passed", or the verdict and its reasons in words. */
export function gateCell(g: GateResult): string {
  const reasons = g.reasons.filter((r) => r.level !== 'note');
  const stamp = g.disabled ? ' (gate off)' : '';
  return reasons.length ? `${g.verdict}${stamp}: ${reasons.map((r) => r.message.replace(/\.$/, '')).join('; ')}` : `${g.verdict}${stamp}`;
}

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
export interface LoadModelOptions extends ModelLoadOptions {
  limits?: Partial<LoadLimits>;
}

async function runKey(run: LoadedRun): Promise<string> {
  const b = run.record.backbone;
  const head = await readFile(join(run.dir, RUN_FILES.head));
  return `${b.sha256}\n${JSON.stringify(b.manifest)}\n${sha256Hex(head)}`;
}

/** Reads a run's (or ensemble's) model identity and threshold (fast: no ONNX session). */
export async function readModelInfo(dir: string): Promise<ModelInfo> {
  if ((await folderKind(dir)) === 'ensemble') {
    const ens = await readEnsembleDir(dir);
    const keys = await Promise.all(ens.members.map(runKey));
    const id = sha256Hex(`deep-covid-ensemble\n${ens.record.combine}\n${keys.join('\n')}`);
    return { id, runId: ens.record.id, runDir: ens.dir, backbone: ens.members.map((m) => m.record.backbone.name).join('+'), threshold: ens.record.threshold.value };
  }
  const run = await readRunDir(dir);
  const id = sha256Hex(`deep-covid-model\n${await runKey(run)}`);
  return { id, runId: run.record.id, runDir: run.dir, backbone: run.record.backbone.name, threshold: run.record.threshold.value };
}

/** Loads a run's (or ensemble's) model for screening: each backbone is checked against its run's sha256. */
export async function loadScreenModel(dir: string, opts: LoadModelOptions = {}): Promise<ScreenModel> {
  const info = await readModelInfo(dir);
  const model = await loadModel(dir, { runtime: opts.runtime, modelPath: opts.modelPath });
  return {
    info,
    async predict(items, predictOpts = {}) {
      const preds = await model.predict(items.map((it) => it.path), { signal: predictOpts.signal, limits: opts.limits, cache: null });
      return preds.map((p, i): ItemOutcome => {
        const { path, sha256 } = items[i];
        if ('error' in p) return { error: p.error, kind: p.problem ?? 'other' };
        if (sha256 !== undefined && p.sha256 !== sha256) {
          return { error: `${path}: content changed since it was listed (sha256 ${p.sha256.slice(0, 12)}…, expected ${sha256.slice(0, 12)}…)`, kind: 'changed' };
        }
        if (!('probability' in p)) return { refused: true, gate: gateCell(p.gate) };
        return { probability: p.probability, gate: gateCell(p.gate) };
      });
    },
    release: () => model.release(),
  };
}
