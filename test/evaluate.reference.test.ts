// The reference protocol's own numbers (PyTorch run, /work/shared/reference/protocol/metrics.json)
// recomputed from its per-image test predictions: AUC, DeLong CI, sens/spec with Wilson CIs at
// 0.1..0.5 and the optimistic test threshold for 98% sensitivity.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { confusionAt, delongAuc, evaluatePredictions, metricsAt, thresholdForSensitivity } from '../src/evaluate/index.js';

const protocolDir = fileURLToPath(new URL('../../shared/reference/protocol/', import.meta.url));
const haveReference = existsSync(`${protocolDir}metrics.json`);

interface Ref {
  test: {
    auc: number;
    auc_delong95: [number, number];
    thresholds: { oracle_sens98_on_this_set: number; val_sens98: number };
    at: Record<string, { sens: number; sens_wilson95: [number, number]; spec: number; spec_wilson95: [number, number] }>;
  };
}

function loadPredictions(backbone: string) {
  const lines = readFileSync(`${protocolDir}${backbone}.test-predictions.csv`, 'utf8').trim().split(/\r?\n/);
  assert.equal(lines[0], 'file,label,prob,source,patient_id');
  const rows = lines.slice(1).map((l) => l.split(','));
  return {
    probs: Float64Array.from(rows, (r) => Number(r[2])),
    labels: Uint8Array.from(rows, (r) => (r[1] === 'covid' ? 1 : 0)),
    source: rows.map((r) => r[3]),
    patients: rows.map((r) => r[4]),
  };
}

const close = (a: number, b: number, msg: string, tol = 1e-9) =>
  assert.ok(Math.abs(a - b) <= tol, `${msg}: ${a} vs ${b} (diff ${Math.abs(a - b)})`);

for (const backbone of ['squeezenet1_1', 'mobilenet_v2']) {
  test(`${backbone}: AUC, DeLong CI, Wilson sens/spec and optimistic threshold match metrics.json`, { skip: !haveReference && 'no /work/shared reference' }, () => {
    const ref = (JSON.parse(readFileSync(`${protocolDir}metrics.json`, 'utf8')) as Record<string, Ref>)[backbone].test;
    const { probs, labels } = loadPredictions(backbone);
    assert.equal(probs.length, 392);

    const d = delongAuc(probs, labels);
    close(d.auc, ref.auc, 'auc', 1e-12);
    close(d.lower, ref.auc_delong95[0], 'delong lower');
    close(d.upper, ref.auc_delong95[1], 'delong upper');

    for (const [t, want] of Object.entries(ref.at)) {
      const m = metricsAt(probs, labels, Number(t), 0.05);
      close(m.sensitivity.estimate!, want.sens, `sens@${t}`, 1e-15);
      close(m.specificity.estimate!, want.spec, `spec@${t}`, 1e-15);
      close(m.sensitivity.wilson![0], want.sens_wilson95[0], `sens wilson lower@${t}`);
      close(m.sensitivity.wilson![1], want.sens_wilson95[1], `sens wilson upper@${t}`);
      close(m.specificity.wilson![0], want.spec_wilson95[0], `spec wilson lower@${t}`);
      close(m.specificity.wilson![1], want.spec_wilson95[1], `spec wilson upper@${t}`);
    }

    // the CSV rounds probabilities to 6 decimals, metrics.json keeps full precision
    const t98 = thresholdForSensitivity(probs, labels, 0.98)!;
    close(t98, ref.thresholds.oracle_sens98_on_this_set, 'oracle sens98 threshold', 5e-7);
    // The reference threshold is a positive's own score, which only a ">=" rule reaches with 98%:
    // at t98, ">=" keeps that positive (112/114 >= 0.98) while ">" would drop it (111/114 < 0.98).
    const ge = confusionAt(probs, labels, t98);
    assert.equal(ge.tp, 112);
    let strictlyAbove = 0;
    for (let i = 0; i < probs.length; i++) if (labels[i] === 1 && probs[i] > t98) strictlyAbove++;
    assert.equal(strictlyAbove, 111);
    assert.ok(111 / 114 < 0.98 && 112 / 114 >= 0.98);
  });
}

test('evaluatePredictions on the squeezenet1_1 reference: summary agrees with metrics.json', { skip: !haveReference && 'no /work/shared reference' }, () => {
  const ref = (JSON.parse(readFileSync(`${protocolDir}metrics.json`, 'utf8')) as Record<string, Ref>).squeezenet1_1.test;
  const { probs, labels, source, patients } = loadPredictions('squeezenet1_1');
  const report = evaluatePredictions(
    { probs, labels, patients, groups: { source } },
    {
      thresholds: [0.1, 0.2, 0.3, 0.4, 0.5],
      operatingThreshold: ref.thresholds.val_sens98,
      targetSensitivity: 0.98,
      prevalence: 0.1,
      bootstrap: { reps: 500, seed: 1 },
    },
  );
  close(report.auc!.value, ref.auc, 'auc', 1e-12);
  close(report.auc!.delong!.lower, ref.auc_delong95[0], 'delong lower');
  report.atThresholds.forEach((row) => close(row.sensitivity.estimate!, ref.at[String(row.threshold)].sens, 'sens', 1e-15));
  close(report.optimisticThreshold!.threshold, ref.thresholds.oracle_sens98_on_this_set, 'optimistic', 5e-7);
  assert.equal(report.optimisticThreshold!.metrics.confusion.tp, 112);
  assert.equal(report.patients, 243);
  // patient-clustered bootstrap: brackets the point estimate, width within a factor 2 of DeLong's
  const b = report.auc!.patientBootstrap!;
  assert.ok(b.lower < ref.auc && ref.auc < b.upper);
  const ratio = (b.upper - b.lower) / (ref.auc_delong95[1] - ref.auc_delong95[0]);
  assert.ok(ratio > 0.5 && ratio < 2, `bootstrap/DeLong width ratio ${ratio}`);
  assert.deepEqual(Object.keys(report.bySource!), ['figure1', 'ieee8023', 'nih']);
  const nih = report.bySource!.nih;
  assert.equal(nih.positives, 0); // nih images are all non-COVID: no AUC, specificity only
  assert.equal(nih.auc, null);
  assert.equal(nih.operatingPoint.sensitivity.estimate, null);
  assert.equal(nih.n + report.bySource!.figure1.n + report.bySource!.ieee8023.n, 392);
});
