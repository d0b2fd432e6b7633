/**
 * Layer 3 of the gate: is this image like the ones the model was trained on? The density model is
 * fitted on the pooled features of the images the run trains and validates on; its cut-offs come
 * from out-of-fold scores of those images only (the test set and any out-of-distribution set never
 * choose anything). Stored in the run folder as gate.json.
 * No Node imports: the client page reads gate.json with this module too.
 */
import { RunError } from '../errors.js';
import { fromBase64, toBase64 } from '../util/base64.js';
import { normalQuantile } from '../util/normal.js';
import { fitDensity, scoreRows, type DensityModel, type FeatureRows } from './density.js';
import { groupedFolds } from './folds.js';
import { asymmetry } from './symmetry.js';
import type { OodCheck, OodFacts } from './types.js';

export const GATE_FORMAT = 'deep-covid-gate';
/**
 * Version 1: cut-offs from the validation split alone. Version 2: cross-fitted cut-offs. Version 3:
 * version 2 plus the frontal-view evidence (`view`: the warning weighs mirror symmetry too). All are read.
 */
export const GATE_VERSION = 3;
export const GATE_METHOD = 'mahalanobis-ledoit-wolf';

/** What every calibration has: the log-normal fitted to in-distribution scores and the rule's figures. */
interface CalibrationCore {
  /** In-distribution scores the cut-offs were set from. */
  n: number;
  /**
   * 'lognormal': a log-normal fitted to the scores (mean and sd of their logs). The empirical 99th
   * percentile is decided by the few largest scores; the fitted tail uses all of them and moved
   * far less across re-drawn splits and folds (BENCHMARKS.md, "Input gate").
   */
  rule: 'lognormal';
  logMean: number;
  logSd: number;
  /** Share of in-distribution images the warning cut-off lets pass (0.99). */
  quantile: number;
  /** Tail probability of the refusal cut-off under the fitted log-normal (1e-6). */
  farTail: number;
  /** The empirical `quantile` of the scores, for comparison. */
  empiricalQuantile: number;
}

/** Version 1 (gate.json of older runs): density on the training images, cut-offs on the validation scores. */
export interface ValidationCalibration extends CalibrationCore {
  split: 'validation';
  /** Validation images above the warning cut-off. */
  validationFlagged: number;
}

/**
 * Version 2: the density is fitted on all training and validation originals; the cut-offs come
 * from out-of-fold scores of those same images (K patient-grouped folds: fit on K − 1, score the
 * held-out one), so every score is of an image its density never saw, and there are ten times as
 * many of them as validation images.
 */
export interface CrossFitCalibration extends CalibrationCore {
  split: 'cross-fitted';
  folds: number;
  /** 'patient' when folds hold whole patients, 'image' when the data has no patient ids. */
  groupedBy: 'patient' | 'image';
  /** Out-of-fold scores above the warning cut-off. */
  flagged: number;
  /** The warning cut-off each fold's own scores would have given (its spread shows how settled the cut-off is). */
  foldCutoffs: number[];
}

/** How the cut-offs were set. */
export type GateCalibration = ValidationCalibration | CrossFitCalibration;

/**
 * Version 3: the warning weighs two pieces of evidence that an image is not a frontal chest film
 * like the training ones: its feature score and its left-right asymmetry (symmetry.ts). Each is put
 * on a common scale as the z-value of its logarithm under a log-normal fitted to the in-distribution
 * images (the score's fit is the calibration's, on out-of-fold scores); their sum is the evidence,
 * and a normal fitted to the in-distribution images' evidence sets the warning cut-off at the same
 * quantile as the score alone had. So the share of in-distribution images warned stays about 1%,
 * while an image a little unlike the training features and clearly asymmetric (a lateral film) is
 * warned, and a symmetric frontal film a little unlike them is not. The refusal cut-off stays on the
 * feature score alone.
 */
export interface ViewCalibration {
  /** In-distribution images the fit used (the calibration's images). */
  n: number;
  /** Log-normal fitted to their asymmetry (1 − mirror symmetry). */
  asymLogMean: number;
  asymLogSd: number;
  /** Normal fitted to their evidence. */
  evidenceMean: number;
  evidenceSd: number;
  /** Share of in-distribution images the evidence cut-off lets pass (the calibration's quantile). */
  quantile: number;
  /** Evidence above this warns. */
  cutoff: number;
  /** In-distribution images above the cut-off. */
  flagged: number;
}
/** A fitted out-of-distribution gate: density model, cut-offs and what features it reads. */
export interface GateModel {
  method: typeof GATE_METHOD;
  /** The backbone's pooled vector (the spatial mean of its last feature map), square-rooted. */
  featureKind: 'pooled';
  transform: 'signed-sqrt';
  /** sha256 of the backbone whose features were modelled (features of another backbone are meaningless here). */
  backboneSha256: string;
  density: DensityModel;
  calibration: GateCalibration;
  /** Scores above this are flagged (the verdict warns). */
  cutoff: number;
  /** Scores above this are refused. */
  farCutoff: number;
  /** Version 3: the warning weighs mirror symmetry too (absent in older gate.json: the score alone warns). */
  view?: ViewCalibration;
}

/** Options of `fitGate` and `fitGateCrossFitted`. */
export interface FitGateOptions {
  backboneSha256: string;
  /** Warning cut-off: this quantile of in-distribution scores (default 0.99). */
  quantile?: number;
  /** Refusal cut-off: this tail probability (default 1e-6: one in-distribution image in a million). */
  farTail?: number;
  /** Most channels modelled (default 1280; see `fitDensity`). */
  maxDims?: number;
  /**
   * The mirror symmetry (ImageFacts.symmetry) of each row's image: with it, the gate also weighs
   * symmetry (`ViewCalibration`, version 3); without it, the score alone warns (version 2).
   */
  symmetry?: ArrayLike<number>;
}

/** Options of `fitGateCrossFitted`. */
export interface CrossFitOptions extends FitGateOptions {
  /** Folds (default 5, fewer when there are fewer groups). */
  folds?: number;
  /** Seed of the fold assignment (default 0). */
  seed?: number;
  /** What `groups` holds (stored in the calibration; default 'patient'). */
  groupedBy?: 'patient' | 'image';
}

function checkRule(quantile: number, farTail: number): void {
  if (!(quantile > 0.5 && quantile < 1)) throw new Error(`quantile must lie in (0.5, 1), got ${quantile}`);
  if (!(farTail > 0 && farTail < 1 - quantile)) throw new Error(`farTail must lie in (0, ${1 - quantile}), got ${farTail}`);
}

/** The log-normal rule on in-distribution scores: both cut-offs and the figures every calibration keeps. */
function lognormalRule(scores: ArrayLike<number>, quantile: number, farTail: number): { core: CalibrationCore; cutoff: number; farCutoff: number; flagged: number } {
  const { logMean, logSd } = logNormalFit(scores);
  const cutoff = Math.exp(logMean + normalQuantile(quantile) * logSd);
  const farCutoff = Math.exp(logMean + normalQuantile(1 - farTail) * logSd);
  const sorted = Array.from(scores).sort((a, b) => a - b);
  return {
    core: { n: sorted.length, rule: 'lognormal', logMean, logSd, quantile, farTail, empiricalQuantile: empiricalQuantile(sorted, quantile) },
    cutoff,
    farCutoff,
    flagged: sorted.filter((s) => s > cutoff).length,
  };
}

function gateModel(density: DensityModel, calibration: GateCalibration, cutoff: number, farCutoff: number, backboneSha256: string): GateModel {
  return { method: GATE_METHOD, featureKind: 'pooled', transform: 'signed-sqrt', backboneSha256, density, calibration, cutoff, farCutoff };
}

/**
 * Version 1's fit, kept for comparison (bench/gate.ts): the density on the training images'
 * pooled features, both cut-offs on the validation images' scores. Training rows should be
 * original images only (not augmented copies).
 * @throws Error with fewer than 2 training or 3 validation rows.
 */
export function fitGate(train: FeatureRows, val: FeatureRows, opts: FitGateOptions): GateModel {
  if (val.dim !== train.dim) throw new Error(`validation features have ${val.dim} channels, training features ${train.dim}`);
  if (val.n < 3) throw new Error(`setting the out-of-distribution cut-off needs at least 3 validation images, got ${val.n}`);
  const quantile = opts.quantile ?? 0.99;
  const farTail = opts.farTail ?? 1e-6;
  checkRule(quantile, farTail);
  const density = fitDensity(train, { maxDims: opts.maxDims });
  const r = lognormalRule(scoreRows(density, val.data, val.n), quantile, farTail);
  return gateModel(density, { split: 'validation', ...r.core, validationFlagged: r.flagged }, r.cutoff, r.farCutoff, opts.backboneSha256);
}

/**
 * What `train` fits (version 2): cross-fitted cut-offs. `rows` are every in-distribution original
 * the run holds out of the test set (training and validation images, no augmented copies), `groups`
 * their patients (or the image itself without patient ids). Each of K patient-grouped folds is
 * scored by a density fitted on the other K − 1; the log-normal rule on all out-of-fold scores gives
 * the cut-offs; the stored density is fitted on all rows. A density fitted on (K − 1)/K of the
 * images scores a little higher than the final one, so the cut-offs err towards passing.
 * @throws Error with fewer than 3 rows or fewer than 2 groups.
 */
export function fitGateCrossFitted(rows: FeatureRows, groups: readonly string[], opts: CrossFitOptions): GateModel {
  const quantile = opts.quantile ?? 0.99;
  const farTail = opts.farTail ?? 1e-6;
  checkRule(quantile, farTail);
  const oof = crossFitScores(rows, groups, opts);
  const density = fitDensity(rows, { maxDims: opts.maxDims });
  const r = lognormalRule(oof.scores, quantile, farTail);
  const foldCutoffs = oof.byFold.filter((s) => s.length >= 3).map((s) => lognormalRule(s, quantile, farTail).cutoff);
  const calibration: CrossFitCalibration = { split: 'cross-fitted', ...r.core, folds: oof.folds, groupedBy: opts.groupedBy ?? 'patient', flagged: r.flagged, foldCutoffs };
  const gate = gateModel(density, calibration, r.cutoff, r.farCutoff, opts.backboneSha256);
  if (opts.symmetry) gate.view = fitViewCalibration(oof.scores, opts.symmetry, calibration);
  return gate;
}

/**
 * The frontal-view evidence's calibration (see `ViewCalibration`) from in-distribution images'
 * out-of-fold scores and mirror symmetries, with the score's log-normal from `core`.
 * @throws Error when the lengths differ or a symmetry is not a number.
 */
export function fitViewCalibration(scores: ArrayLike<number>, symmetry: ArrayLike<number>, core: Pick<CalibrationCore, 'logMean' | 'logSd' | 'quantile'>): ViewCalibration {
  if (symmetry.length !== scores.length) throw new Error(`${scores.length} scores but ${symmetry.length} symmetry values`);
  const asym = Array.from(symmetry, (v) => {
    if (!Number.isFinite(v)) throw new Error(`a mirror symmetry is ${v}, not a number`);
    return asymmetry(v);
  });
  const { logMean: asymLogMean, logSd: asymLogSd } = logNormalFit(asym);
  const partial = { asymLogMean, asymLogSd };
  const ev = Array.from(scores, (s, i) => evidenceOf(core, partial, s, asym[i]));
  const evidenceMean = ev.reduce((a, b) => a + b, 0) / ev.length;
  const evidenceSd = Math.sqrt(ev.reduce((a, b) => a + (b - evidenceMean) ** 2, 0) / (ev.length - 1));
  const cutoff = evidenceMean + normalQuantile(core.quantile) * evidenceSd;
  return { n: ev.length, asymLogMean, asymLogSd, evidenceMean, evidenceSd, quantile: core.quantile, cutoff, flagged: ev.filter((e) => e > cutoff).length };
}

/** The two z-values (score, asymmetry) on their log-normal scales, and their sum. */
function evidenceParts(core: Pick<CalibrationCore, 'logMean' | 'logSd'>, view: Pick<ViewCalibration, 'asymLogMean' | 'asymLogSd'>, score: number, asym: number): { zScore: number; zAsym: number } {
  return {
    zScore: (Math.log(Math.max(score, 1e-12)) - core.logMean) / core.logSd,
    zAsym: (Math.log(asym) - view.asymLogMean) / view.asymLogSd,
  };
}

function evidenceOf(core: Pick<CalibrationCore, 'logMean' | 'logSd'>, view: Pick<ViewCalibration, 'asymLogMean' | 'asymLogSd'>, score: number, asym: number): number {
  const { zScore, zAsym } = evidenceParts(core, view, score, asym);
  return zScore + zAsym;
}

/**
 * Out-of-fold scores: each row scored by a density fitted on the folds it is not in (K
 * patient-grouped folds, K = min(folds, groups)).
 * @throws Error with fewer than 3 rows or fewer than 2 groups.
 */
export function crossFitScores(rows: FeatureRows, groups: readonly string[], opts: Pick<CrossFitOptions, 'folds' | 'seed' | 'maxDims'> = {}): { scores: Float64Array; byFold: Float64Array[]; folds: number } {
  if (groups.length !== rows.n) throw new Error(`${rows.n} feature rows but ${groups.length} group names`);
  if (rows.n < 3) throw new Error(`setting the out-of-distribution cut-off needs at least 3 images, got ${rows.n}`);
  const k = Math.min(opts.folds ?? 5, new Set(groups).size);
  const fold = groupedFolds(groups, k, opts.seed ?? 0);
  const scores = new Float64Array(rows.n);
  const byFold: Float64Array[] = [];
  for (let f = 0; f < k; f++) {
    const inFold: number[] = [];
    const rest: number[] = [];
    for (let i = 0; i < rows.n; i++) (fold[i] === f ? inFold : rest).push(i);
    const density = fitDensity(pickRows(rows, rest), { maxDims: opts.maxDims });
    const held = pickRows(rows, inFold);
    const s = scoreRows(density, held.data, held.n);
    inFold.forEach((i, j) => (scores[i] = s[j]));
    byFold.push(s);
  }
  return { scores, byFold, folds: k };
}

/** The chosen rows of a feature matrix, contiguous. */
function pickRows(rows: FeatureRows, idx: readonly number[]): FeatureRows {
  const data = new Float32Array(idx.length * rows.dim);
  idx.forEach((r, k) => data.set(rows.data.subarray(r * rows.dim, (r + 1) * rows.dim), k * rows.dim));
  return { data, n: idx.length, dim: rows.dim };
}

/** Mean and standard deviation (n − 1) of the logs of positive scores. */
export function logNormalFit(scores: ArrayLike<number>): { logMean: number; logSd: number } {
  const logs = Array.from(scores, (s) => Math.log(Math.max(s, 1e-12)));
  const logMean = logs.reduce((a, b) => a + b, 0) / logs.length;
  const logSd = Math.sqrt(logs.reduce((a, b) => a + (b - logMean) ** 2, 0) / (logs.length - 1));
  return { logMean, logSd };
}

/** Linear-interpolated quantile of ascending values (NumPy's default). */
export function empiricalQuantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Out-of-distribution scores of `n` pooled feature rows. */
export function scoreFeatures(gate: GateModel, pooled: Float32Array, n = 1): Float64Array {
  if (pooled.length < n * gate.density.dim) throw new Error(`expected ${n} x ${gate.density.dim} pooled features, got ${pooled.length} floats`);
  return scoreRows(gate.density, pooled, n);
}

/** The gate's learned check of one image's pooled features (and its mirror symmetry, see `assessScore`). */
export function assessFeatures(gate: GateModel, pooled: Float32Array, symmetry?: number): OodCheck {
  return assessScore(gate, scoreFeatures(gate, pooled, 1)[0], symmetry);
}

/**
 * The learned check for an already computed score (batch callers score many rows at once). With a
 * version-3 gate and the image's mirror symmetry, the warning weighs both (`ViewCalibration`), and
 * an image warned mostly for its asymmetry is said to look like a lateral view; otherwise the score
 * alone warns. Scores beyond the far cut-off are refused either way.
 */
export function assessScore(gate: GateModel, score: number, symmetry?: number): OodCheck {
  const view = gate.view && symmetry !== undefined && Number.isFinite(symmetry) ? gate.view : null;
  const parts = view ? evidenceParts(gate.calibration, view, score, asymmetry(symmetry!)) : null;
  const evidence = parts ? parts.zScore + parts.zAsym : null;
  const flagged = view ? !(evidence! <= view.cutoff) : !(score <= gate.cutoff);
  const facts: OodFacts = {
    score, cutoff: gate.cutoff, farCutoff: gate.farCutoff, flagged, method: gate.method,
    ...(view ? { symmetry: symmetry!, evidence: evidence!, evidenceCutoff: view.cutoff } : {}),
  };
  const s = Number.isFinite(score) ? score.toFixed(1) : 'not a number';
  const pct = Math.round(gate.calibration.quantile * 100);
  const seen = gate.calibration.split === 'validation' ? 'the validation images' : 'the images it was trained and validated on';
  if (!(score <= gate.farCutoff)) {
    return { facts, reasons: [{ code: 'far-out-of-distribution', level: 'refuse', message: `This image is unlike the chest X-rays the model was trained on (score ${s}, far beyond the refusal cut-off ${gate.farCutoff.toFixed(1)}); it is probably not a frontal chest X-ray.` }] };
  }
  if (!flagged) return { facts, reasons: [] };
  if (parts && parts.zAsym > parts.zScore) {
    return { facts, reasons: [{ code: 'not-frontal', level: 'warn', message: `This may be a lateral view or an unusual frontal film rather than the frontal chest radiographs the model was trained on: it is far less left-right symmetric than frontal films are (mirror symmetry ${symmetry!.toFixed(2)}), and with its feature score (${s}) it is less like the training chest X-rays than ${pct}% of ${seen} are.` }] };
  }
  const why = view ? `its feature score ${s} and mirror symmetry ${symmetry!.toFixed(2)} together put it beyond the cut-off` : `score ${s} above the cut-off ${gate.cutoff.toFixed(1)}`;
  return { facts, reasons: [{ code: 'out-of-distribution', level: 'warn', message: `This image is less like the training chest X-rays than ${pct}% of ${seen} are (${why}): it may be a lateral film, an unusual crop or another kind of image.` }] };
}

// ---------------------------------------------------------------------------------------------
// gate.json

function b64(a: Float32Array | Int32Array): string {
  return toBase64(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

function fromB64<T extends Float32Array | Int32Array>(s: unknown, Ctor: { new (buf: ArrayBuffer): T; BYTES_PER_ELEMENT: number }, length: number, bad: (field: string, why: string) => never, field: string): T {
  if (typeof s !== 'string') return bad(field, 'must be a base64 string');
  const bytes = fromBase64(s);
  if (bytes === null) return bad(field, 'is not valid base64');
  if (bytes.length !== length * Ctor.BYTES_PER_ELEMENT) return bad(field, `holds ${bytes.length} bytes, expected ${length * Ctor.BYTES_PER_ELEMENT}`);
  return new Ctor(bytes.buffer as ArrayBuffer);
}

/** The JSON of gate.json (float arrays as base64 little-endian float32). */
export function gateToJSON(gate: GateModel): Record<string, unknown> {
  const d = gate.density;
  return {
    format: GATE_FORMAT,
    // a version-1 gate stays version 1, so the deep-covid that wrote it still reads it
    version: gate.calibration.split === 'validation' ? 1 : gate.view ? GATE_VERSION : 2,
    method: gate.method,
    featureKind: gate.featureKind,
    transform: gate.transform,
    backboneSha256: gate.backboneSha256,
    cutoff: gate.cutoff,
    farCutoff: gate.farCutoff,
    calibration: gate.calibration,
    ...(gate.view ? { view: gate.view } : {}),
    density: {
      dim: d.dim, p: d.p, n: d.n, shrinkage: d.shrinkage,
      channels: d.channels ? b64(d.channels) : null,
      mean: b64(d.mean),
      cholesky: b64(d.chol),
    },
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads and validates gate.json's content; every error names the file and the field.
 * @throws RunError for a damaged or foreign file.
 */
export function gateFromJSON(value: unknown, file: string): GateModel {
  const bad = (field: string, why: string): never => {
    throw new RunError(`${file}: ${field} ${why}; the gate file is damaged or was not written by deep-covid (train the run again)`);
  };
  if (!isObject(value)) return bad('the gate', 'is not a JSON object');
  if (value.format !== GATE_FORMAT) return bad('format', `is ${JSON.stringify(value.format)}, not "${GATE_FORMAT}"`);
  if (value.version !== 1 && value.version !== 2 && value.version !== GATE_VERSION) {
    if (typeof value.version === 'number' && value.version > GATE_VERSION) throw new RunError(`${file}: gate version ${value.version} was written by a newer deep-covid (this one reads versions 1 to ${GATE_VERSION}): upgrade deep-covid`);
    return bad('version', `is ${JSON.stringify(value.version)}, expected 1 to ${GATE_VERSION}`);
  }
  if (value.method !== GATE_METHOD) return bad('method', `is ${JSON.stringify(value.method)}, expected "${GATE_METHOD}"`);
  if (value.featureKind !== 'pooled') return bad('featureKind', 'must be "pooled"');
  if (value.transform !== 'signed-sqrt') return bad('transform', 'must be "signed-sqrt"');
  if (typeof value.backboneSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(value.backboneSha256)) return bad('backboneSha256', 'must be 64 hex digits');
  const positive = (v: unknown, field: string): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : bad(field, 'must be a positive number'));
  const cutoff = positive(value.cutoff, 'cutoff');
  const farCutoff = positive(value.farCutoff, 'farCutoff');
  if (farCutoff < cutoff) bad('farCutoff', `(${farCutoff}) is below cutoff (${cutoff})`);
  const cal = isObject(value.calibration) ? value.calibration : bad('calibration', 'is missing or not an object');
  const split = value.version === 1 ? 'validation' : 'cross-fitted';
  if (cal.split !== split) bad('calibration.split', `must be "${split}" in a version-${value.version as number} gate`);
  if (split === 'cross-fitted' && !(Number.isInteger(cal.folds) && (cal.folds as number) >= 2)) bad('calibration.folds', 'must be an integer of at least 2');
  const q = cal.quantile;
  if (typeof q !== 'number' || !(q > 0.5 && q < 1)) bad('calibration.quantile', 'must lie in (0.5, 1)');
  for (const f of ['logMean', 'logSd'] as const) if (typeof cal[f] !== 'number' || !Number.isFinite(cal[f])) bad(`calibration.${f}`, 'must be a number');
  const view = value.version === GATE_VERSION ? viewFromJSON(value.view, bad) : undefined;
  const d = isObject(value.density) ? value.density : bad('density', 'is missing or not an object');
  const int = (v: unknown, field: string): number => (Number.isInteger(v) && (v as number) > 0 ? (v as number) : bad(field, 'must be a positive integer'));
  const dim = int(d.dim, 'density.dim');
  const p = int(d.p, 'density.p');
  if (p > dim) bad('density.p', `(${p}) exceeds density.dim (${dim})`);
  const channels = d.channels === null ? null : fromB64(d.channels, Int32Array, p, bad, 'density.channels');
  if (channels === null && p !== dim) bad('density.channels', 'must list the modelled channels when p < dim');
  if (channels && !channels.every((c, i) => c >= 0 && c < dim && (i === 0 || c > channels[i - 1]))) bad('density.channels', 'must be ascending channel indices below dim');
  const shrinkage = d.shrinkage;
  if (typeof shrinkage !== 'number' || !(shrinkage >= 0 && shrinkage <= 1)) bad('density.shrinkage', 'must lie in [0, 1]');
  const mean = fromB64(d.mean, Float32Array, p, bad, 'density.mean');
  const chol = fromB64(d.cholesky, Float32Array, (p * (p + 1)) / 2, bad, 'density.cholesky');
  for (let i = 0, o = 0; i < p; o += i + 1, i++) if (!(chol[o + i] > 0)) bad('density.cholesky', `has a non-positive diagonal at channel ${i}`);
  return {
    method: GATE_METHOD,
    featureKind: 'pooled',
    transform: 'signed-sqrt',
    backboneSha256: value.backboneSha256,
    density: { dim, p, n: int(d.n, 'density.n'), shrinkage: shrinkage as number, channels, mean, chol },
    calibration: cal as unknown as GateCalibration,
    cutoff,
    farCutoff,
    ...(view ? { view } : {}),
  };
}

/** The `view` object of a version-3 gate.json, every number checked. */
function viewFromJSON(v: unknown, bad: (field: string, why: string) => never): ViewCalibration {
  if (!isObject(v)) return bad('view', 'is missing or not an object (a version-3 gate has one)');
  const num = (f: keyof ViewCalibration, positive = false): number => {
    const x = v[f];
    return typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0) ? x : bad(`view.${f}`, positive ? 'must be a positive number' : 'must be a number');
  };
  const quantile = num('quantile');
  if (!(quantile > 0.5 && quantile < 1)) bad('view.quantile', 'must lie in (0.5, 1)');
  return {
    n: num('n', true), asymLogMean: num('asymLogMean'), asymLogSd: num('asymLogSd', true),
    evidenceMean: num('evidenceMean'), evidenceSd: num('evidenceSd', true), quantile, cutoff: num('cutoff'), flagged: num('flagged'),
  };
}
