// Agreement with values computed independently in Python (scikit-learn, statsmodels, a by-definition
// DeLong); fixtures written by scripts/fixtures/make-evaluate-fixtures.py.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  calibration,
  clopperPearsonInterval,
  delongAuc,
  metricsAt,
  rocAuc,
  rocCurve,
  thresholdForSensitivity,
  wilsonInterval,
} from '../src/evaluate/index.js';

interface Ci { k: number; n: number; wilson: [number, number]; clopperPearson: [number, number] }
interface Roc { fpr: number[]; tpr: number[]; thresholds: (number | null)[] }
interface Cal { counts: number[]; fractionPositive: number[]; meanPredicted: number[]; ece: number; brier: number }
interface Case {
  name: string;
  probs: number[];
  labels: number[];
  auc: number;
  delong95: { auc: number; variance: number; lower: number; upper: number };
  delong90: { auc: number; variance: number; lower: number; upper: number };
  roc: Roc;
  rocDropIntermediate: Roc;
  thresholds: { threshold: number; confusion: { tp: number; fp: number; tn: number; fn: number }; sensitivity: Ci | null; specificity: Ci | null }[];
  sens98: number;
  sens90: number;
  calibration10: Cal;
  calibration5: Cal;
}

const dir = new URL('./fixtures/evaluate/', import.meta.url);
const load = <T>(name: string): T => JSON.parse(readFileSync(new URL(name, dir), 'utf8')) as T;
const TOL = 1e-9;
const close = (a: number, b: number, msg: string, tol = TOL) =>
  assert.ok(Math.abs(a - b) <= tol, `${msg}: ${a} vs ${b} (diff ${Math.abs(a - b)})`);
const closePair = (a: readonly number[] | null, b: readonly number[], msg: string) => {
  assert.ok(a);
  close(a[0], b[0], `${msg} lower`);
  close(a[1], b[1], `${msg} upper`);
};

for (const name of ['random-200', 'ties-grid', 'small-n', 'imbalanced-300']) {
  const c = load<Case>(`${name}.json`);
  const y = Uint8Array.from(c.labels);
  const p = Float64Array.from(c.probs);

  test(`${name}: AUC equals sklearn roc_auc_score and DeLong matches the by-definition variance`, () => {
    close(rocAuc(p, y), c.auc, 'auc', 1e-12);
    for (const [level, want] of [[0.95, c.delong95], [0.9, c.delong90]] as const) {
      const d = delongAuc(p, y, level);
      close(d.auc, want.auc, 'delong auc', 1e-12);
      close(d.variance, want.variance, 'variance', 1e-12);
      close(d.lower, want.lower, `lower ${level}`);
      close(d.upper, want.upper, `upper ${level}`);
    }
  });

  test(`${name}: ROC points equal sklearn roc_curve (drop_intermediate False and True)`, () => {
    for (const [drop, want] of [[false, c.roc], [true, c.rocDropIntermediate]] as const) {
      const r = rocCurve(p, y, { dropIntermediate: drop });
      assert.equal(r.thresholds.length, want.thresholds.length, `points, drop=${drop}`);
      assert.equal(r.thresholds[0], Infinity);
      assert.deepEqual(r.thresholds.slice(1), want.thresholds.slice(1));
      r.fpr.forEach((v, i) => close(v, want.fpr[i], `fpr[${i}]`, 1e-15));
      r.tpr.forEach((v, i) => close(v, want.tpr[i], `tpr[${i}]`, 1e-15));
    }
  });

  test(`${name}: confusion, sens/spec and Wilson/Clopper-Pearson CIs equal statsmodels`, () => {
    for (const row of c.thresholds) {
      const m = metricsAt(p, y, row.threshold, 0.5);
      assert.deepEqual(m.confusion, row.confusion, `confusion at ${row.threshold}`);
      for (const key of ['sensitivity', 'specificity'] as const) {
        const want = row[key];
        if (want === null) {
          assert.equal(m[key].estimate, null);
          continue;
        }
        assert.equal(m[key].k, want.k);
        assert.equal(m[key].n, want.n);
        closePair(m[key].wilson, want.wilson, `${key} wilson at ${row.threshold}`);
        closePair(m[key].clopperPearson, want.clopperPearson, `${key} clopper-pearson at ${row.threshold}`);
      }
    }
  });

  test(`${name}: threshold for 98% / 90% sensitivity equals the largest sklearn threshold with tpr >= target`, () => {
    assert.equal(thresholdForSensitivity(p, y, 0.98), c.sens98);
    assert.equal(thresholdForSensitivity(p, y, 0.9), c.sens90);
  });

  test(`${name}: Brier, reliability bins and ECE equal sklearn calibration_curve (10 and 5 bins)`, () => {
    for (const [bins, want] of [[10, c.calibration10], [5, c.calibration5]] as const) {
      const cal = calibration(p, y, bins);
      close(cal.brier, want.brier, 'brier', 1e-14);
      assert.deepEqual(cal.bins.map((b) => b.count), want.counts);
      const filled = cal.bins.filter((b) => b.count > 0);
      filled.forEach((b, i) => {
        close(b.fractionPositive!, want.fractionPositive[i], `fraction positive bin ${i}`, 1e-14);
        close(b.meanPredicted!, want.meanPredicted[i], `mean predicted bin ${i}`, 1e-14);
      });
      close(cal.ece, want.ece, 'ece', 1e-14);
    }
  });
}

test('binomial intervals equal statsmodels proportion_confint (wilson, beta) at 95% and 90%', () => {
  const cases = load<{ k: number; n: number; level: number; wilson: [number, number]; clopperPearson: [number, number] }[]>(
    'binomial.json',
  );
  assert.ok(cases.length >= 20);
  for (const c of cases) {
    closePair(wilsonInterval(c.k, c.n, c.level), c.wilson, `wilson ${c.k}/${c.n} @${c.level}`);
    closePair(clopperPearsonInterval(c.k, c.n, c.level), c.clopperPearson, `clopper-pearson ${c.k}/${c.n} @${c.level}`);
  }
});
