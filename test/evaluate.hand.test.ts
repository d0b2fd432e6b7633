// Small cases worked by hand for ROC/AUC, DeLong, binomial intervals, thresholds and calibration.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  brierScore,
  calibration,
  clopperPearsonInterval,
  confusionAt,
  delongAuc,
  metricsAt,
  predictiveValues,
  predictiveValuesAt,
  predictiveValueTable,
  rocAuc,
  rocCurve,
  thresholdForSensitivity,
  trapezoidArea,
  wilsonInterval,
} from '../src/evaluate/index.js';
import { UsageError } from '../src/errors.js';
import { Rng } from '../src/util/rng.js';

const close = (a: number, b: number, tol = 1e-12, msg?: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${msg ?? ''} ${a} vs ${b} (diff ${Math.abs(a - b)})`);
const closeAll = (a: readonly number[], b: readonly number[], tol = 1e-12) => {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => close(v, b[i], tol, `[${i}]`));
};

// positives 0.9, 0.7, 0.6; negatives 0.8, 0.5, 0.4: 7 of 9 pairs ordered correctly
const A = { p: [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], y: new Uint8Array([1, 0, 1, 1, 0, 0]) };
// tie across classes at 0.5: pairs 3 (0.8 beats all) + 0.5 (tie) + 0.5 (tie) + 1 (0.5 beats 0.2) = 5 of 6
const T = { p: [0.8, 0.5, 0.5, 0.5, 0.2], y: [1, 1, 0, 0, 0] };

test('ROC points without ties: one point per score, (0,0) at +Infinity first', () => {
  const r = rocCurve(A.p, A.y);
  assert.deepEqual(r.thresholds, [Infinity, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4]);
  closeAll(r.fpr, [0, 0, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 1]);
  closeAll(r.tpr, [0, 1 / 3, 1 / 3, 2 / 3, 1, 1, 1]);
});

test('ROC dropIntermediate removes collinear points like scikit-learn', () => {
  const r = rocCurve(A.p, A.y, { dropIntermediate: true });
  // second differences over the score points only (the (0, 0) point is prepended afterwards)
  assert.deepEqual(r.thresholds, [Infinity, 0.9, 0.8, 0.6, 0.4]);
  assert.deepEqual(rocCurve([0.9, 0.8, 0.7, 0.1], [1, 1, 1, 0], { dropIntermediate: true }).thresholds, [Infinity, 0.9, 0.7, 0.1]);
});

test('ROC with a cross-class tie makes one diagonal step, not a staircase', () => {
  const r = rocCurve(T.p, T.y);
  assert.deepEqual(r.thresholds, [Infinity, 0.8, 0.5, 0.2]);
  closeAll(r.fpr, [0, 0, 2 / 3, 1]);
  closeAll(r.tpr, [0, 0.5, 1, 1]);
});

test('AUC = Mann-Whitney with ties as 1/2 = trapezoid area', () => {
  close(rocAuc(A.p, A.y), 7 / 9);
  close(rocAuc(T.p, T.y), 5 / 6);
  const r = rocCurve(T.p, T.y);
  close(trapezoidArea(r.fpr, r.tpr), 5 / 6);
  close(rocAuc([0.1, 0.2], [1, 0]), 0);
  close(rocAuc([0.3, 0.3, 0.3], [1, 0, 1]), 0.5);
});

test('DeLong variance by hand: V10 = [1, 2/3, 2/3], V01 = [1/3, 1, 1] -> var = 5/81', () => {
  const d = delongAuc(A.p, A.y);
  close(d.auc, 7 / 9);
  close(d.variance, 5 / 81);
  close(d.lower, Math.max(0, 7 / 9 - 1.959963984540054 * Math.sqrt(5 / 81)), 1e-12);
  close(d.upper, 1, 0, 'clipped to 1');
});

test('DeLong of a perfect separation has zero variance', () => {
  const d = delongAuc([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]);
  assert.equal(d.auc, 1);
  assert.equal(d.variance, 0);
  assert.deepEqual([d.lower, d.upper], [1, 1]);
});

test('bad input is refused with UsageError', () => {
  assert.throws(() => rocAuc([0.1, 0.2], [1, 1]), UsageError);
  assert.throws(() => rocAuc([0.1, 0.2], [1]), UsageError);
  assert.throws(() => rocAuc([NaN, 0.2], [1, 0]), UsageError);
  assert.throws(() => rocAuc([0.1, 0.2], [2, 0]), UsageError);
  assert.throws(() => delongAuc([0.1, 0.2, 0.3], [1, 0, 0]), /at least 2 positives/);
  assert.throws(() => wilsonInterval(3, 2), UsageError);
});

test('Wilson interval: closed forms at k = 0 and k = n, and the textbook 8/10', () => {
  const z2 = 1.959963984540054 ** 2;
  const [lo0, hi0] = wilsonInterval(0, 10);
  assert.equal(lo0, 0);
  close(hi0, z2 / (10 + z2), 1e-14);
  const [loN, hiN] = wilsonInterval(10, 10);
  close(loN, 10 / (10 + z2), 1e-14);
  assert.equal(hiN, 1);
  const [lo, hi] = wilsonInterval(8, 10);
  close(lo, 0.4902, 5e-5);
  close(hi, 0.9433, 5e-5);
});

test('Clopper-Pearson: closed forms 1 - (a/2)^(1/n) at k = 0 and (a/2)^(1/n) at k = n', () => {
  for (const n of [1, 5, 30]) {
    const [lo0, hi0] = clopperPearsonInterval(0, n);
    assert.equal(lo0, 0);
    close(hi0, 1 - 0.025 ** (1 / n), 1e-13);
    const [loN, hiN] = clopperPearsonInterval(n, n, 0.9);
    close(loN, 0.05 ** (1 / n), 1e-13);
    assert.equal(hiN, 1);
  }
  // k = 1 of 2: lower solves 1 - (1-x)^2 = 0.025, upper solves x^2 = 0.975
  const [lo, hi] = clopperPearsonInterval(1, 2);
  close(lo, 1 - Math.sqrt(0.975), 1e-13);
  close(hi, Math.sqrt(0.975), 1e-13);
});

test('confusion matrix counts a score equal to the threshold as positive (>=)', () => {
  assert.deepEqual(confusionAt(T.p, T.y, 0.5), { tp: 2, fp: 2, tn: 1, fn: 0 });
  assert.deepEqual(confusionAt(T.p, T.y, 0.50001), { tp: 1, fp: 0, tn: 3, fn: 1 });
  assert.deepEqual(confusionAt(A.p, A.y, 0.65), { tp: 2, fp: 1, tn: 2, fn: 1 });
});

test('metricsAt: sens, spec, precision, F1, PPV/NPV at a stated prevalence', () => {
  const m = metricsAt(A.p, A.y, 0.65, 0.1);
  assert.equal(m.sensitivity.estimate, 2 / 3);
  assert.equal(m.specificity.estimate, 2 / 3);
  assert.equal(m.precision, 2 / 3);
  close(m.f1!, 4 / 6);
  // Bayes: ppv = (2/3)(0.1) / ((2/3)(0.1) + (1/3)(0.9)) = 0.2/1.1
  close(m.ppv!, 0.2 / 1.1, 1e-15);
  close(m.npv!, 1.8 / 1.9, 1e-15);
  assert.deepEqual(m.sensitivity.wilson, wilsonInterval(2, 3));
  const pv = predictiveValues(0.9, 0.8, 0.1);
  close(pv.ppv!, 1 / 3, 1e-15);
  close(pv.npv!, 0.72 / 0.73, 1e-15);
  const none = metricsAt([0.2, 0.3], [0, 0], 0.5, 0.1);
  assert.equal(none.sensitivity.estimate, null);
  assert.equal(none.sensitivity.wilson, null);
  assert.equal(none.precision, null);
  assert.equal(none.ppv, null);
});

test('threshold for a target sensitivity: the k-th highest positive score', () => {
  assert.equal(thresholdForSensitivity(A.p, A.y, 0.98), 0.6);
  assert.equal(thresholdForSensitivity(A.p, A.y, 0.6), 0.7); // 2/3 >= 0.6
  assert.equal(thresholdForSensitivity(A.p, A.y, 2 / 3), 0.7);
  assert.equal(thresholdForSensitivity([0.1, 0.2], [0, 0], 0.9), null);
  // 50 positives at 0.01..0.50: 49/50 = 0.98 exactly, so the 49th highest (0.02) qualifies
  const p = Array.from({ length: 50 }, (_, i) => (i + 1) / 100);
  assert.equal(thresholdForSensitivity(p, new Uint8Array(50).fill(1), 0.98), 0.02);
});

test('calibration by hand: edges belong to the lower bin, 1.0 to the last', () => {
  const p = [0.05, 0.15, 0.1, 0.95, 1.0];
  const y = [0, 1, 0, 1, 1];
  close(brierScore(p, y), 0.1475, 1e-15);
  const c = calibration(p, y, 10);
  assert.deepEqual(c.bins.map((b) => b.count), [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
  close(c.bins[0].meanPredicted!, 0.075, 1e-15);
  assert.equal(c.bins[2].meanPredicted, null);
  close(c.ece, 0.21, 1e-15);
  close(c.mce, 0.85, 1e-15);
  assert.throws(() => calibration([1.2], [1]), UsageError);
});

test('PPV and NPV at a given prevalence, by hand: sensitivity = specificity = 0.9', () => {
  const c = { tp: 9, fn: 1, tn: 18, fp: 2 };
  // π = 10%: PPV = 0.09 / (0.09 + 0.09) = 1/2, NPV = 0.81 / (0.81 + 0.01) = 81/82
  const at10 = predictiveValuesAt(c, 0.1);
  assert.ok(Math.abs(at10.ppv!.estimate - 0.5) < 1e-12);
  assert.ok(Math.abs(at10.npv!.estimate - 81 / 82) < 1e-12);
  // π = 1%: PPV = 0.009 / (0.009 + 0.099) = 1/12, NPV = 0.891 / 0.892
  const at1 = predictiveValuesAt(c, 0.01);
  assert.ok(Math.abs(at1.ppv!.estimate - 1 / 12) < 1e-12);
  assert.ok(Math.abs(at1.npv!.estimate - 891 / 892) < 1e-12);
  // intervals: Bayes at the corners of the 97.5% Wilson intervals (z = 2.2414027),
  // sensitivity 9/10 in [0.5471847, 0.9853007], specificity 18/20 in [0.6631133, 0.9762758]
  // (worked in Python from the Wilson formula)
  const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;
  assert.ok(close(at10.ppv!.interval[0], 0.15288053945191116) && close(at10.ppv!.interval[1], 0.8218932139291795), JSON.stringify(at10));
  assert.ok(close(at10.npv!.interval[0], 0.929477192083417) && close(at10.npv!.interval[1], 0.9983298493927225), JSON.stringify(at10));
  assert.ok(close(at1.ppv!.interval[0], 0.016141632161526982) && close(at1.ppv!.interval[1], 0.29553152065835697));
  // a 90% statement uses 95% intervals for each
  const wide = predictiveValuesAt(c, 0.1, 0.9);
  const [seLo] = wilsonInterval(9, 10, 0.95);
  const [spLo] = wilsonInterval(18, 20, 0.95);
  assert.ok(close(wide.ppv!.interval[0], predictiveValues(seLo, spLo, 0.1).ppv!));
  assert.ok(wide.ppv!.interval[0] > at10.ppv!.interval[0]);
});

test('PPV and NPV: edges, the table and bad input', () => {
  // no false positives: PPV's upper end is 1; nothing called positive: PPV undefined
  assert.equal(predictiveValuesAt({ tp: 5, fn: 5, tn: 10, fp: 0 }, 0.2).ppv!.interval[1], 1);
  assert.equal(predictiveValuesAt({ tp: 0, fn: 10, tn: 10, fp: 0 }, 0.2).ppv, null);
  assert.equal(predictiveValuesAt({ tp: 0, fn: 10, tn: 10, fp: 0 }, 0.2).npv!.estimate, 0.8);
  // prevalence 0 and 1 are allowed: PPV 0 and NPV 1 at 0
  const zero = predictiveValuesAt({ tp: 8, fn: 2, tn: 9, fp: 1 }, 0);
  assert.deepEqual([zero.ppv!.estimate, zero.npv!.estimate], [0, 1]);
  const table = predictiveValueTable({ tp: 8, fn: 2, tn: 9, fp: 1 }, [0.29, 0.01, 0.05, 0.1, 0.29]);
  assert.deepEqual(table.map((r) => r.prevalence), [0.01, 0.05, 0.1, 0.29]);
  // PPV rises and NPV falls with prevalence
  for (let i = 1; i < table.length; i++) assert.ok(table[i].ppv!.estimate > table[i - 1].ppv!.estimate && table[i].npv!.estimate < table[i - 1].npv!.estimate);
  assert.throws(() => predictiveValuesAt({ tp: 1, fn: 1, tn: 1, fp: 1 }, 1.5), /prevalence must be in \[0, 1\], got 1\.5/);
  assert.throws(() => predictiveValuesAt({ tp: 0, fn: 0, tn: 5, fp: 1 }, 0.1), /need COVID and non-COVID images, got 0 COVID and 6 non-COVID/);
});

test('PPV/NPV intervals cover the true values at least as often as stated (simulated)', () => {
  const rng = new Rng(5);
  const [se, sp, pi, nPos, nNeg] = [0.8, 0.9, 0.05, 30, 60];
  const truth = predictiveValues(se, sp, pi);
  let ppvIn = 0;
  let npvIn = 0;
  const reps = 3000;
  const draw = (p: number, n: number) => {
    let k = 0;
    for (let i = 0; i < n; i++) if (rng.next() < p) k++;
    return k;
  };
  for (let r = 0; r < reps; r++) {
    const tp = draw(se, nPos);
    const tn = draw(sp, nNeg);
    const v = predictiveValuesAt({ tp, fn: nPos - tp, tn, fp: nNeg - tn }, pi);
    if (v.ppv && v.ppv.interval[0] <= truth.ppv! && truth.ppv! <= v.ppv.interval[1]) ppvIn++;
    if (v.npv && v.npv.interval[0] <= truth.npv! && truth.npv! <= v.npv.interval[1]) npvIn++;
  }
  assert.ok(ppvIn / reps >= 0.95, `PPV coverage ${ppvIn / reps}`);
  assert.ok(npvIn / reps >= 0.95, `NPV coverage ${npvIn / reps}`);
});
