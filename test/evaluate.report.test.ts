// evaluatePredictions (the EvaluationReport) and the patient-clustered bootstrap.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { bootstrapAucCi, delongAuc, evaluatePredictions, metricsAt, rocAuc } from '../src/evaluate/index.js';
import { UsageError } from '../src/errors.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/evaluate/imbalanced-300.json', import.meta.url), 'utf8')) as {
  probs: number[];
  labels: number[];
};
const p = Float64Array.from(fixture.probs);
const y = Uint8Array.from(fixture.labels);
const ids = (n: number) => Array.from({ length: n }, (_, i) => `p${i}`);

/** Each image repeated `times` times, the copies sharing one patient id. */
function triplicate(times: number) {
  const n = p.length * times;
  const pp = new Float64Array(n);
  const yy = new Uint8Array(n);
  const pat: string[] = [];
  for (let i = 0; i < p.length; i++) {
    for (let r = 0; r < times; r++) {
      pp[i * times + r] = p[i];
      yy[i * times + r] = y[i];
      pat.push(`p${i}`);
    }
  }
  return { pp, yy, pat };
}

test('bootstrap is deterministic for a seed and changes with the seed', () => {
  const a = bootstrapAucCi(p, y, ids(p.length), { reps: 300, seed: 7 });
  const b = bootstrapAucCi(p, y, ids(p.length), { reps: 300, seed: 7 });
  const c = bootstrapAucCi(p, y, ids(p.length), { reps: 300, seed: 8 });
  assert.deepEqual(a, b);
  assert.notEqual(a.lower, c.lower);
  assert.equal(a.auc, rocAuc(p, y));
  assert.equal(a.clusters, 300);
  assert.equal(a.usedReps, 300);
});

test('bootstrap resamples patients: copies of an image under one patient id change nothing', () => {
  const single = bootstrapAucCi(p, y, ids(p.length), { reps: 400, seed: 3 });
  const { pp, yy, pat } = triplicate(3);
  const clustered = bootstrapAucCi(pp, yy, pat, { reps: 400, seed: 3 });
  // same number of clusters and the same draws; AUC is invariant to scaling every weight by 3
  assert.ok(Math.abs(clustered.lower - single.lower) < 1e-12 && Math.abs(clustered.upper - single.upper) < 1e-12);
  // resampling images instead treats the copies as independent: a spuriously narrow interval
  const perImage = bootstrapAucCi(pp, yy, ids(pp.length), { reps: 400, seed: 3 });
  const w = (r: { lower: number; upper: number }) => r.upper - r.lower;
  assert.ok(w(perImage) < 0.75 * w(clustered), `per-image ${w(perImage)} vs per-patient ${w(clustered)}`);
});

test('bootstrap CI with one image per patient is close to the DeLong CI', () => {
  const b = bootstrapAucCi(p, y, ids(p.length), { reps: 2000, seed: 11 });
  const d = delongAuc(p, y);
  const ratio = (b.upper - b.lower) / (d.upper - d.lower);
  assert.ok(ratio > 0.85 && ratio < 1.15, `width ratio ${ratio}`);
  assert.ok(Math.abs((b.upper + b.lower) / 2 - d.auc) < 0.02);
});

test('bootstrap input errors', () => {
  assert.throws(() => bootstrapAucCi(p, y, ids(3), { reps: 10, seed: 1 }), UsageError);
  assert.throws(() => bootstrapAucCi(p, y, ids(p.length), { reps: 0, seed: 1 }), UsageError);
});

test('evaluatePredictions: complete, JSON round-trips unchanged, groups partition the data', () => {
  const n = p.length;
  const view = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 'AP' : 'PA'));
  const source = Array.from({ length: n }, (_, i) => (i < 100 ? 'a' : 'b'));
  const report = evaluatePredictions(
    { probs: p, labels: y, patients: ids(n), groups: { source, view } },
    { thresholds: [0.1, 0.3, 0.5], operatingThreshold: 0.3, targetSensitivity: 0.98, prevalence: 0.05, bootstrap: { reps: 200, seed: 5 } },
  );
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report); // no Infinity/NaN/typed arrays inside
  assert.equal(report.conventions.positiveWhen, 'prob >= threshold');
  assert.equal(report.conventions.calibrationBins, 10);
  assert.deepEqual(report.conventions.bootstrap, { reps: 200, seed: 5 });
  assert.equal(report.n, n);
  assert.equal(report.positives, 40);
  assert.equal(report.auc!.value, delongAuc(p, y).auc);
  assert.equal(report.roc!.thresholds[0], null);
  assert.deepEqual(report.atThresholds.map((r) => r.threshold), [0.1, 0.3, 0.5]);
  assert.deepEqual(report.operatingPoint, metricsAt(p, y, 0.3, 0.05));
  assert.equal(report.optimisticThreshold!.optimistic, true);
  assert.ok(report.optimisticThreshold!.metrics.sensitivity.estimate! >= 0.98);
  assert.equal(report.calibration.bins.length, 10);
  assert.deepEqual(Object.keys(report.byView!), ['AP', 'PA']);
  assert.equal(report.byView!.AP.n + report.byView!.PA.n, n);
  assert.equal(report.bySource!.a.n, 100);
  // a group's numbers are those of its own subset
  const idx = [...Array(n).keys()].filter((i) => view[i] === 'AP');
  const sub = { p: idx.map((i) => p[i]), y: idx.map((i) => y[i]) };
  assert.equal(report.byView!.AP.auc!.value, delongAuc(sub.p, sub.y).auc);
  assert.deepEqual(report.byView!.AP.operatingPoint.confusion, metricsAt(sub.p, sub.y, 0.3, 0.05).confusion);
});

test('evaluatePredictions without patients or groups, and with one class only', () => {
  const opts = { thresholds: [0.5], operatingThreshold: 0.5, targetSensitivity: 0.9, prevalence: 0.1 };
  const r = evaluatePredictions({ probs: p, labels: y }, opts);
  assert.equal(r.auc!.patientBootstrap, null);
  assert.equal(r.bySource, null);
  assert.equal(r.patients, null);
  const neg = evaluatePredictions({ probs: [0.1, 0.7], labels: [0, 0] }, opts);
  assert.equal(neg.auc, null);
  assert.equal(neg.roc, null);
  assert.equal(neg.optimisticThreshold, null);
  assert.equal(neg.operatingPoint.specificity.estimate, 0.5);
  const onePos = evaluatePredictions({ probs: [0.9, 0.1, 0.2], labels: [1, 0, 0] }, opts);
  assert.equal(onePos.auc!.value, 1);
  assert.equal(onePos.auc!.delong, null); // DeLong needs 2 of each class
  assert.throws(() => evaluatePredictions({ probs: [], labels: [] }, opts), UsageError);
  assert.throws(() => evaluatePredictions({ probs: p, labels: y, groups: { view: ['AP'] } }, opts), /groups.view/);
});
