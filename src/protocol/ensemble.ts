/**
 * Ensembles of trained runs: the members' P(COVID) averaged (as probabilities, or as logits), the
 * way of averaging and the operating threshold both chosen on the members' shared validation
 * split, never on the test set. Built from the members' own validation and test predictions, so no
 * backbone runs again. The ensemble folder names its members; `DeepCovidModel`-style loading of it
 * lives in src/model.
 */
import { readFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { RunError } from '../errors.js';
import { evaluatePredictions, rocAuc, thresholdForSensitivity, type EvaluationReport } from '../evaluate/index.js';
import { formatCsv, parseCsv } from '../util/csv.js';
import { ENSEMBLE_MARKER, prepareRunOutput, readRunDir, RUN_FILES, writeRunDir, type LoadedRun } from './run-folder.js';
import { aucCi, pctCi, thresholdTable } from './run-files.js';

/** `format` of ensemble.json. */
export const ENSEMBLE_FORMAT = 'deep-covid-ensemble';
export const ENSEMBLE_VERSION = 1;
/** The file that marks an ensemble folder. */
export const ENSEMBLE_FILE = ENSEMBLE_MARKER;

/** How member probabilities are combined. */
export type Combine = 'probability' | 'logit';

/** ensemble.json. */
export interface EnsembleRecord {
  format: typeof ENSEMBLE_FORMAT;
  version: typeof ENSEMBLE_VERSION;
  id: string;
  createdAt: string;
  /** Member run folders, relative to the ensemble folder, with what identifies them. */
  members: { dir: string; runId: string; backbone: string; weightsSha256: string }[];
  combine: Combine;
  /** Validation AUC of each way of combining (the higher one is used; ties go to probabilities). */
  validationAuc: Record<Combine, number>;
  threshold: { value: number; chosenOn: 'validation'; targetSensitivity: number; fallback: boolean };
}

/** Mean of the members' probabilities, directly or in log-odds space. */
export function combineProbabilities(members: readonly (ArrayLike<number>)[], combine: Combine): Float64Array {
  const n = members[0].length;
  const out = new Float64Array(n);
  const eps = 1e-12;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const m of members) {
      const p = Math.min(1 - eps, Math.max(eps, m[i]));
      s += combine === 'logit' ? Math.log(p / (1 - p)) : p;
    }
    const mean = s / members.length;
    out[i] = combine === 'logit' ? 1 / (1 + Math.exp(-mean)) : mean;
  }
  return out;
}

interface PredRows {
  files: string[];
  labels: Uint8Array;
  probs: Float64Array;
  patients: string[];
  sources: string[];
  views: string[];
}

async function predictionRows(run: LoadedRun, name: string): Promise<PredRows> {
  const path = join(run.dir, name);
  const text = await readFile(path, 'utf8').catch(() => {
    throw new RunError(`${path} is missing: ensembles are built from the members' ${name} (train the member again)`);
  });
  const rows = parseCsv(text);
  return {
    files: rows.map((r) => r.file),
    labels: Uint8Array.from(rows, (r) => (r.label === 'covid' ? 1 : 0)),
    probs: Float64Array.from(rows, (r) => Number(r.probability)),
    patients: rows.map((r) => r.patient ?? ''),
    sources: rows.map((r) => r.source ?? ''),
    views: rows.map((r) => r.view ?? ''),
  };
}

/** Aligns every member's rows to the first member's order; the file lists must be the same. */
function align(sets: PredRows[], what: string, dirs: string[]): Float64Array[] {
  const ref = sets[0];
  return sets.map((s, k) => {
    const at = new Map(s.files.map((f, i) => [f, i]));
    if (s.files.length !== ref.files.length || ref.files.some((f) => !at.has(f))) {
      throw new RunError(`${dirs[k]} was ${what} on other images than ${dirs[0]}: ensemble members must share the dataset, seed and validation split`);
    }
    return Float64Array.from(ref.files, (f) => s.probs[at.get(f)!]);
  });
}

/** Options of `buildEnsemble`. */
export interface BuildEnsembleOptions {
  /** Member run folders (at least two). */
  runs: string[];
  out: string;
  force?: boolean;
  /** Sensitivity the threshold must reach on validation (default: the first member's). */
  targetSensitivity?: number;
}

/** What `buildEnsemble` wrote. */
export interface EnsembleResult {
  dir: string;
  record: EnsembleRecord;
  metrics: EvaluationReport | null;
}

/**
 * Builds an ensemble folder from trained runs: picks probability or logit averaging by validation
 * AUC, sets the threshold on validation, evaluates the test set once, and writes ensemble.json,
 * metrics.json, predictions.csv, val-predictions.csv and summary.md atomically.
 */
export async function buildEnsemble(opts: BuildEnsembleOptions): Promise<EnsembleResult> {
  if (opts.runs.length < 2) throw new RunError(`an ensemble needs at least two runs, got ${opts.runs.length}`);
  const out = resolve(opts.out);
  await prepareRunOutput(out, { replace: !!opts.force, kind: 'ensemble' });
  const runs = await Promise.all(opts.runs.map((d) => readRunDir(d)));
  const dirs = runs.map((r) => r.dir);
  const crop = JSON.stringify(runs[0].record.backbone.manifest.preprocess);
  for (const r of runs) {
    if (JSON.stringify(r.record.backbone.manifest.preprocess) !== crop) throw new RunError(`${r.dir} preprocesses images differently from ${dirs[0]}: ensemble members must share the preprocessing contract`);
  }
  const val = await Promise.all(runs.map((r) => predictionRows(r, RUN_FILES.valPredictions)));
  const valProbs = align(val, 'validated', dirs);
  const labels = val[0].labels;
  const target = opts.targetSensitivity ?? runs[0].record.threshold.targetSensitivity;
  const candidates: Combine[] = ['probability', 'logit'];
  const validationAuc = Object.fromEntries(candidates.map((c) => [c, rocAuc(combineProbabilities(valProbs, c), labels)])) as Record<Combine, number>;
  const combine: Combine = validationAuc.logit > validationAuc.probability ? 'logit' : 'probability';
  const valCombined = combineProbabilities(valProbs, combine);
  const chosen = thresholdForSensitivity(valCombined, labels, target);
  const threshold = chosen ?? 0.5;
  const cfg = runs[0].record.config;

  let metrics: EvaluationReport | null = null;
  let testCsv: string | null = null;
  const hasTest = runs.every((r) => r.metrics !== null);
  if (hasTest) {
    const test = await Promise.all(runs.map((r) => predictionRows(r, RUN_FILES.predictions)));
    const t = test[0];
    const p = combineProbabilities(align(test, 'tested', dirs), combine);
    metrics = evaluatePredictions(
      {
        probs: p,
        labels: t.labels,
        patients: t.patients.every(Boolean) ? t.patients : undefined,
        groups: { source: t.sources.some(Boolean) ? t.sources.map((s) => s || 'unknown') : undefined, view: t.views.some(Boolean) ? t.views.map((v) => v || 'unknown') : undefined },
      },
      { thresholds: cfg.thresholds, operatingThreshold: threshold, targetSensitivity: target, prevalence: cfg.prevalence ?? t.labels.reduce((s, v) => s + v, 0) / t.labels.length },
    );
    testCsv = rowsCsv(t, p, threshold);
  }
  const record: EnsembleRecord = {
    format: ENSEMBLE_FORMAT,
    version: ENSEMBLE_VERSION,
    id: basename(out),
    createdAt: new Date().toISOString(),
    members: runs.map((r) => ({ dir: relative(out, r.dir) || '.', runId: r.record.id, backbone: r.record.backbone.name, weightsSha256: r.record.backbone.sha256 })),
    combine,
    validationAuc,
    threshold: { value: threshold, chosenOn: 'validation', targetSensitivity: target, fallback: chosen === null },
  };
  const files: Record<string, string> = {
    [ENSEMBLE_FILE]: JSON.stringify(record, null, 2) + '\n',
    [RUN_FILES.valPredictions]: rowsCsv(val[0], valCombined, threshold),
    [RUN_FILES.summary]: ensembleSummary(record, runs, metrics),
  };
  if (metrics && testCsv) {
    files[RUN_FILES.metrics] = JSON.stringify(metrics, null, 1) + '\n';
    files[RUN_FILES.predictions] = testCsv;
  }
  await writeRunDir(out, files, !!opts.force, 'ensemble');
  return { dir: out, record, metrics };
}

function rowsCsv(rows: PredRows, probs: Float64Array, threshold: number): string {
  return formatCsv(rows.files.map((file, i) => ({
    file, label: rows.labels[i] ? 'covid' : 'non', probability: probs[i].toFixed(6), predicted: probs[i] >= threshold ? 'covid' : 'non',
    patient: rows.patients[i], source: rows.sources[i], view: rows.views[i],
  })), ['file', 'label', 'probability', 'predicted', 'patient', 'source', 'view']);
}

function ensembleSummary(r: EnsembleRecord, runs: LoadedRun[], m: EvaluationReport | null): string {
  const out = [`# deep-covid ensemble ${r.id}`, '', 'Research software, not a diagnostic device. Numbers below describe this test set only.', ''];
  out.push(`- Members: ${runs.map((x) => `${x.record.backbone.name} (${x.record.backbone.weights} weights, run ${x.record.id})`).join(', ')}`);
  out.push(`- Combined by averaging ${r.combine === 'logit' ? 'log-odds' : 'probabilities'} (validation AUC: probabilities ${r.validationAuc.probability.toFixed(4)}, log-odds ${r.validationAuc.logit.toFixed(4)})`);
  out.push(`- Operating threshold ${r.threshold.value.toFixed(4)}: chosen on validation for sensitivity ≥ ${(100 * r.threshold.targetSensitivity).toFixed(0)}%${r.threshold.fallback ? ' (fallback 0.5)' : ''}`, '');
  if (m) {
    out.push('## Test results', '', `- AUC ${aucCi(m)} (DeLong 95% CI)`);
    out.push(`- At the operating threshold: sensitivity ${pctCi(m.operatingPoint.sensitivity)}, specificity ${pctCi(m.operatingPoint.specificity)}`, '');
    out.push(thresholdTable(m), '');
  }
  return out.join('\n') + '\n';
}

/** An ensemble folder read and validated, with its member runs. */
export interface LoadedEnsemble {
  dir: string;
  record: EnsembleRecord;
  members: LoadedRun[];
  metrics: EvaluationReport | null;
}

/** Reads an ensemble folder and its member runs (each validated as a run folder). */
export async function readEnsembleDir(dir: string): Promise<LoadedEnsemble> {
  const abs = resolve(dir);
  const file = join(abs, ENSEMBLE_FILE);
  let rec: EnsembleRecord;
  try {
    rec = JSON.parse(await readFile(file, 'utf8')) as EnsembleRecord;
  } catch (err) {
    throw new RunError(`${file} cannot be read as JSON: ${(err as Error).message}`, { cause: err });
  }
  const bad = (why: string): never => {
    throw new RunError(`${file}: ${why}; build the ensemble again`);
  };
  if (rec?.format !== ENSEMBLE_FORMAT) bad(`format is ${JSON.stringify(rec?.format)}, not "${ENSEMBLE_FORMAT}"`);
  if (rec.version !== ENSEMBLE_VERSION) bad(`version ${JSON.stringify(rec.version)} is not ${ENSEMBLE_VERSION}`);
  if (!Array.isArray(rec.members) || rec.members.length < 2) bad('members must list at least two runs');
  if (rec.combine !== 'probability' && rec.combine !== 'logit') bad('combine must be probability or logit');
  const t = rec.threshold?.value;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > 1) bad(`threshold.value must be a number in [0, 1], got ${JSON.stringify(t)}`);
  const members = await Promise.all(rec.members.map(async (m) => {
    const run = await readRunDir(resolve(abs, m.dir));
    if (run.record.backbone.sha256 !== m.weightsSha256) bad(`member ${m.dir} now holds a run with other backbone weights than when the ensemble was built`);
    return run;
  }));
  const metricsText = await readFile(join(abs, RUN_FILES.metrics), 'utf8').catch(() => null);
  return { dir: abs, record: rec, members, metrics: metricsText ? (JSON.parse(metricsText) as EvaluationReport) : null };
}
