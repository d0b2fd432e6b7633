// The learned layer's maths (Ledoit-Wolf shrinkage, Cholesky Mahalanobis scores, validation
// cut-offs), gate.json round trips and damage, and how combineGate turns reasons into a verdict.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  assessScore, combineGate, crossFitScores, fitDensity, fitGate, fitGateCrossFitted, gateFromJSON, gateToJSON, groupedFolds, refusesOrWould, scoreFeatures, scoreRows, transformFeature,
  type FeatureRows, type GateReason,
} from '../src/gate/index.js';
import { RunError } from '../src/errors.js';
import { normalQuantile } from '../src/util/normal.js';
import { Rng } from '../src/util/rng.js';

const SHA = 'ab'.repeat(32);

/** n rows of non-negative features: squares of correlated Gaussians (like post-ReLU activations). */
function makeRows(n: number, dim: number, rng: Rng, shift = 0): FeatureRows {
  const data = new Float32Array(n * dim);
  for (let r = 0; r < n; r++) {
    const common = gauss(rng);
    for (let j = 0; j < dim; j++) {
      const v = 0.6 * common + gauss(rng) * (1 + j / dim) + shift;
      data[r * dim + j] = v * v;
    }
  }
  return { data, n, dim };
}

function gauss(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/** The transformed rows as plain arrays. */
function transformed(rows: FeatureRows): number[][] {
  return Array.from({ length: rows.n }, (_, r) => Array.from(rows.data.subarray(r * rows.dim, (r + 1) * rows.dim), transformFeature));
}

/** Inverse by Gauss-Jordan elimination with partial pivoting (independent of the Cholesky path). */
function inverse(a: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
    [m[c], m[piv]] = [m[piv], m[c]];
    const d = m[c][c];
    for (let j = 0; j < 2 * n; j++) m[c][j] /= d;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c];
      for (let j = 0; j < 2 * n; j++) m[r][j] -= f * m[c][j];
    }
  }
  return m.map((row) => row.slice(n));
}

/** Ledoit-Wolf covariance as scikit-learn's ledoit_wolf computes it, written out with full matrices. */
function ledoitWolfReference(x: number[][]): { cov: number[][]; shrinkage: number; mean: number[] } {
  const n = x.length;
  const p = x[0].length;
  const mean = Array.from({ length: p }, (_, j) => x.reduce((s, r) => s + r[j], 0) / n);
  const xc = x.map((r) => r.map((v, j) => v - mean[j]));
  const s = Array.from({ length: p }, (_, i) => Array.from({ length: p }, (_, j) => xc.reduce((acc, r) => acc + r[i] * r[j], 0) / n));
  const mu = s.reduce((acc, r, i) => acc + r[i], 0) / p;
  // beta_ = sum((X²)ᵀ X²), delta_ = sum((XᵀX)²) / n²
  let beta_ = 0;
  for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) beta_ += xc.reduce((acc, r) => acc + r[i] ** 2 * r[j] ** 2, 0);
  let delta_ = 0;
  for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) delta_ += (s[i][j] * n) ** 2;
  delta_ /= n * n;
  let beta = (1 / (p * n)) * (beta_ / n - delta_);
  const delta = (delta_ - 2 * mu * s.reduce((acc, r, i) => acc + r[i], 0) + p * mu * mu) / p;
  beta = Math.min(beta, delta);
  const shrinkage = beta === 0 ? 0 : beta / delta;
  const cov = s.map((r, i) => r.map((v, j) => (1 - shrinkage) * v + (i === j ? shrinkage * mu : 0)));
  return { cov, shrinkage, mean };
}

describe('density model', () => {
  test('shrinkage and Mahalanobis distances match a direct computation (scikit-learn formula, explicit inverse)', () => {
    const rng = new Rng(7);
    const train = makeRows(30, 8, rng);
    const query = makeRows(5, 8, rng, 0.5);
    const model = fitDensity(train);
    const ref = ledoitWolfReference(transformed(train));
    assert.ok(Math.abs(model.shrinkage - ref.shrinkage) < 1e-9, `${model.shrinkage} vs ${ref.shrinkage}`);
    assert.ok(model.shrinkage > 0 && model.shrinkage < 1);
    const prec = inverse(ref.cov);
    const got = scoreRows(model, query.data, query.n);
    transformed(query).forEach((q, r) => {
      const z = q.map((v, j) => v - ref.mean[j]);
      const d2 = z.reduce((acc, zi, i) => acc + zi * z.reduce((s, zj, j) => s + prec[i][j] * zj, 0), 0);
      assert.ok(Math.abs(got[r] - Math.sqrt(d2)) < 1e-4 * Math.sqrt(d2), `row ${r}: ${got[r]} vs ${Math.sqrt(d2)}`);
    });
  });

  test('with many more images than channels, fresh Gaussian images have squared distances averaging p (chi-square)', () => {
    const rng = new Rng(3);
    const p = 6;
    const gaussRows = (n: number) => {
      const data = new Float32Array(n * p);
      // squares of |Gaussian| + 3 keep the root Gaussian: sqrt((g + 3)²) = g + 3 when g > -3
      for (let i = 0; i < data.length; i++) data[i] = (Math.max(-2.9, gauss(rng)) + 3) ** 2;
      return { data, n, dim: p };
    };
    const model = fitDensity(gaussRows(4000));
    // isotropic data: the shrinkage target is the truth, so Ledoit-Wolf leans on it
    assert.ok(model.shrinkage > 0.3, `shrinkage ${model.shrinkage}`);
    const s = scoreRows(model, gaussRows(2000).data, 2000);
    const meanD2 = s.reduce((a, b) => a + b * b, 0) / s.length;
    assert.ok(Math.abs(meanD2 - p) < 0.4, `mean squared distance ${meanD2}, expected ~${p}`);
  });

  test('more channels than the limit: the highest-variance channels are modelled', () => {
    const rng = new Rng(5);
    const n = 50;
    const dim = 10;
    const data = new Float32Array(n * dim);
    for (let r = 0; r < n; r++) for (let j = 0; j < dim; j++) data[r * dim + j] = (j % 3 === 0 ? 10 : 0.1) * rng.next();
    const model = fitDensity({ data, n, dim }, { maxDims: 4 });
    assert.deepEqual(Array.from(model.channels!), [0, 3, 6, 9]);
    assert.equal(model.p, 4);
    assert.equal(model.chol.length, 10);
  });

  test('constant (dead) channels do not break the fit', () => {
    const rng = new Rng(9);
    const rows = makeRows(20, 6, rng);
    for (let r = 0; r < 20; r++) rows.data[r * 6 + 2] = 0;
    const model = fitDensity(rows);
    assert.ok(scoreRows(model, rows.data, 20).every(Number.isFinite));
  });
});

describe('fitGate and gate.json', () => {
  const rng = new Rng(11);
  const train = makeRows(60, 12, rng);
  const val = makeRows(25, 12, rng);
  const gate = fitGate(train, val, { backboneSha256: SHA });

  test('cut-offs come from a log-normal fitted to the validation scores', () => {
    const s = scoreFeatures(gate, val.data, val.n);
    const logs = Array.from(s, Math.log);
    const m = logs.reduce((a, b) => a + b, 0) / logs.length;
    const sd = Math.sqrt(logs.reduce((a, b) => a + (b - m) ** 2, 0) / (logs.length - 1));
    assert.ok(Math.abs(gate.cutoff - Math.exp(m + normalQuantile(0.99) * sd)) < 1e-9);
    assert.ok(Math.abs(gate.farCutoff - Math.exp(m + normalQuantile(1 - 1e-6) * sd)) < 1e-9);
    assert.ok(gate.calibration.split === 'validation');
    assert.equal(gate.calibration.validationFlagged, Array.from(s).filter((x) => x > gate.cutoff).length);
    assert.equal(gate.calibration.n, 25);
    assert.equal(gate.density.n, 60);
    // images from elsewhere score higher than validation images
    const far = makeRows(10, 12, rng, 3);
    assert.ok(Math.min(...scoreFeatures(gate, far.data, 10)) > Math.max(...s));
  });

  test('gate.json round-trips to identical scores', () => {
    const back = gateFromJSON(JSON.parse(JSON.stringify(gateToJSON(gate))), 'gate.json');
    assert.deepEqual(scoreFeatures(back, val.data, val.n), scoreFeatures(gate, val.data, val.n));
    assert.equal(back.cutoff, gate.cutoff);
    assert.equal(back.backboneSha256, SHA);
  });

  test('a damaged or foreign gate.json is an error naming the file and the field', () => {
    const json = gateToJSON(gate);
    const damaged = (patch: Record<string, unknown>, field: RegExp) =>
      assert.throws(() => gateFromJSON({ ...json, ...patch }, '/runs/a/gate.json'), (e: unknown) => e instanceof RunError && /\/runs\/a\/gate\.json/.test(e.message) && field.test(e.message));
    damaged({ format: 'other' }, /format/);
    damaged({ cutoff: -1 }, /cutoff/);
    damaged({ farCutoff: gate.cutoff / 2 }, /farCutoff/);
    damaged({ density: { ...(json.density as object), cholesky: 'AAAA' } }, /density\.cholesky/);
    damaged({ backboneSha256: 'xyz' }, /backboneSha256/);
    assert.throws(() => gateFromJSON({ ...json, version: 99 }, 'g.json'), /newer deep-covid/);
    // a version-1 gate is written as version 1 (older deep-covid reads it) and must say 'validation'
    assert.equal(json.version, 1);
    damaged({ version: 2 }, /calibration\.split/);
  });

  test('too few validation images to set a cut-off is an error', () => {
    assert.throws(() => fitGate(train, { ...val, n: 2, data: val.data.subarray(0, 24) }, { backboneSha256: SHA }), /at least 3 validation images/);
  });

  test('a score below the cut-off passes, between the cut-offs warns, beyond the far one refuses', () => {
    assert.deepEqual(assessScore(gate, gate.cutoff * 0.9).reasons, []);
    assert.equal(assessScore(gate, gate.cutoff * 0.9).facts.flagged, false);
    const mid = assessScore(gate, (gate.cutoff + gate.farCutoff) / 2);
    assert.deepEqual(mid.reasons.map((r) => `${r.level}:${r.code}`), ['warn:out-of-distribution']);
    assert.match(mid.reasons[0].message, /less like the training chest X-rays than 99% of the validation images/);
    assert.equal(assessScore(gate, gate.farCutoff * 1.1).reasons[0].level, 'refuse');
    assert.equal(assessScore(gate, NaN).reasons[0].code, 'far-out-of-distribution');
  });
});

describe('cross-fitted cut-offs (gate.json version 2)', () => {
  const rng = new Rng(21);
  const rows = makeRows(90, 10, rng);
  // 30 patients of 3 images each
  const groups = Array.from({ length: 90 }, (_, i) => `p${Math.floor(i / 3)}`);
  const gate = fitGateCrossFitted(rows, groups, { backboneSha256: SHA, folds: 5, seed: 0 });

  test('folds keep each patient whole, have near-equal sizes and follow the seed', () => {
    const fold = groupedFolds(groups, 5, 0);
    for (let p = 0; p < 30; p++) assert.equal(new Set([fold[3 * p], fold[3 * p + 1], fold[3 * p + 2]]).size, 1, `patient ${p}`);
    const sizes = [0, 1, 2, 3, 4].map((f) => fold.filter((x) => x === f).length);
    assert.deepEqual(sizes, [18, 18, 18, 18, 18]);
    assert.deepEqual(groupedFolds(groups, 5, 0), fold);
    assert.notDeepEqual(groupedFolds(groups, 5, 1), fold);
    assert.throws(() => groupedFolds(['a', 'a', 'b'], 3, 0), /at least 3 patients/);
  });

  test('the cut-offs are the log-normal rule on the out-of-fold scores; the density is fitted on every image', () => {
    const oof = crossFitScores(rows, groups, { folds: 5, seed: 0 });
    const logs = Array.from(oof.scores, Math.log);
    const m = logs.reduce((a, b) => a + b, 0) / logs.length;
    const sd = Math.sqrt(logs.reduce((a, b) => a + (b - m) ** 2, 0) / (logs.length - 1));
    assert.ok(Math.abs(gate.cutoff - Math.exp(m + normalQuantile(0.99) * sd)) < 1e-9 * gate.cutoff);
    assert.ok(Math.abs(gate.farCutoff - Math.exp(m + normalQuantile(1 - 1e-6) * sd)) < 1e-9 * gate.farCutoff);
    assert.equal(gate.density.n, 90);
    const cal = gate.calibration;
    assert.ok(cal.split === 'cross-fitted');
    assert.deepEqual([cal.n, cal.folds, cal.groupedBy, cal.foldCutoffs.length], [90, 5, 'patient', 5]);
    assert.equal(cal.flagged, Array.from(oof.scores).filter((x) => x > gate.cutoff).length);
    // an image's out-of-fold score is that of a density that never saw it: larger than in-sample
    const inSample = scoreFeatures(gate, rows.data, rows.n);
    assert.ok(oof.scores.reduce((a, b) => a + b, 0) > inSample.reduce((a, b) => a + b, 0));
    // fold k's images are scored by the density fitted without fold k
    const fold = groupedFolds(groups, 5, 0);
    const rest = Array.from({ length: 90 }, (_, i) => i).filter((i) => fold[i] !== 0);
    const data = new Float32Array(rest.length * 10);
    rest.forEach((r, k) => data.set(rows.data.subarray(r * 10, r * 10 + 10), k * 10));
    const d0 = fitDensity({ data, n: rest.length, dim: 10 });
    const first = fold.indexOf(0);
    assert.ok(Math.abs(scoreRows(d0, rows.data.subarray(first * 10, first * 10 + 10), 1)[0] - oof.scores[first]) < 1e-9);
  });

  test('gate.json version 2 round-trips; version 1 and 2 are both read', () => {
    const json = gateToJSON(gate);
    assert.equal(json.version, 2);
    const back = gateFromJSON(JSON.parse(JSON.stringify(json)), 'gate.json');
    assert.deepEqual(scoreFeatures(back, rows.data, rows.n), scoreFeatures(gate, rows.data, rows.n));
    assert.deepEqual(back.calibration, gate.calibration);
    assert.throws(() => gateFromJSON({ ...json, version: 1 }, '/r/gate.json'), /\/r\/gate\.json: calibration\.split/);
    assert.throws(() => gateFromJSON({ ...json, calibration: { ...gate.calibration, folds: 1 } }, '/r/gate.json'), /calibration\.folds/);
    assert.throws(() => gateFromJSON({ ...json, version: 4 }, 'g.json'), /gate version 4 was written by a newer deep-covid \(this one reads versions 1 to 3\)/);
    // a version-2 file has no mirror-symmetry calibration: the score alone warns, whatever the symmetry
    assert.equal(back.view, undefined);
    assert.equal(assessScore(back, gate.cutoff * 0.99, -0.5).facts.flagged, false);
    assert.equal(assessScore(back, gate.cutoff * 1.01, 1).facts.flagged, true);
  });

  test('the warning names what the cut-off was set on', () => {
    const mid = assessScore(gate, (gate.cutoff + gate.farCutoff) / 2);
    assert.match(mid.reasons[0].message, /than 99% of the images it was trained and validated on/);
  });

  test('too few images or mismatched groups are errors', () => {
    assert.throws(() => fitGateCrossFitted({ ...rows, n: 2, data: rows.data.subarray(0, 20) }, ['a', 'b'], { backboneSha256: SHA }), /at least 3 images/);
    assert.throws(() => fitGateCrossFitted(rows, groups.slice(1), { backboneSha256: SHA }), /90 feature rows but 89 group names/);
  });
});

describe('combineGate', () => {
  const r = (code: GateReason['code'], level: GateReason['level']): GateReason => ({ code, level, message: code });
  const facts = { width: 1, height: 1, aspect: 1, greyStd: 0, storedChannels: 1, colourFraction: 0, meanChroma: 0, symmetry: 1 };

  test('refused if anything refuses, else warned if anything warns, else passed; refusals listed first', () => {
    const res = combineGate({ header: null, image: { facts, reasons: [r('low-contrast', 'warn'), r('too-small', 'refuse')] }, ood: null });
    assert.equal(res.verdict, 'refused');
    assert.deepEqual(res.reasons.map((x) => x.code), ['too-small', 'low-contrast']);
    assert.equal(res.header, null);
    assert.deepEqual(res.image, facts);
    assert.equal(combineGate({ header: null, image: { facts, reasons: [r('low-contrast', 'warn')] }, ood: null }).verdict, 'warned');
    assert.equal(combineGate({ header: null, image: { facts, reasons: [] }, ood: null }, { noOodModel: true }).verdict, 'passed');
    assert.equal(combineGate({ header: null, image: null, ood: null }, { noOodModel: true }).reasons[0].code, 'no-ood-model');
  });

  test('a disabled gate refuses nothing, says what it would have done, and is stamped', () => {
    const res = combineGate({ header: null, image: { facts, reasons: [r('too-small', 'refuse')] }, ood: null }, { disabled: true });
    assert.equal(res.verdict, 'warned');
    assert.equal(res.disabled, true);
    assert.deepEqual(res.reasons.map((x) => `${x.level}:${x.code}`), ['warn:gate-disabled', 'warn:too-small']);
    assert.match(res.reasons[1].message, /Would have been refused/);
    assert.deepEqual(res.reasons.map(refusesOrWould), [false, true]);
  });
});
