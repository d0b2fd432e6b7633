/**
 * PPV and NPV at a prevalence the user gives (a clinic's, not the test set's), with intervals.
 * P(COVID) and the precision seen on a test set hold only at that set's class mix; sensitivity and
 * specificity do not depend on it, so the predictive values at another prevalence π follow by
 * Bayes' rule from them.
 *
 * Intervals: sensitivity and specificity come from separate images (the COVID and the non-COVID
 * ones), each with a Wilson interval at level 1 − α/2 (97.5% for a 95% statement). PPV and NPV both
 * increase in sensitivity and in specificity, so while both lie in their intervals, PPV lies
 * between its values at the lower corners and at the upper corners (likewise NPV). Both intervals
 * hold together with probability at least 1 − α (Bonferroni), so the corner interval covers at
 * least 1 − α. The prevalence itself is taken as exact.
 */
import { UsageError } from '../errors.js';
import { wilsonInterval, type Interval } from './binomial-ci.js';
import { predictiveValues } from './thresholds.js';

/** Sensitivity and specificity as counts (the operating point's confusion matrix). */
export interface OperatingCounts {
  tp: number;
  fn: number;
  tn: number;
  fp: number;
}

/** A predictive value with its interval; null when undefined (e.g. PPV when nothing is called positive). */
export interface ValueWithInterval {
  estimate: number;
  interval: Interval;
}

/** PPV and NPV at one prevalence. */
export interface PredictiveValuesAt {
  prevalence: number;
  ppv: ValueWithInterval | null;
  npv: ValueWithInterval | null;
}

/** How the intervals are made, in words (for reports and the model card). */
export const PREDICTIVE_VALUE_METHOD =
  "Bayes' rule from sensitivity and specificity at the operating threshold; interval: PPV and NPV at the corners of the Wilson intervals of sensitivity and specificity, each at level 1 − α/2, which together cover at least 1 − α (both values increase in sensitivity and specificity); the prevalence is taken as exact";

/** Prevalences a report shows by default besides the test set's own. */
export const REPORT_PREVALENCES = [0.01, 0.05, 0.1] as const;

function between(v: number | null, lo: number | null, hi: number | null): ValueWithInterval | null {
  if (v === null) return null;
  // an undefined corner (0/0) is where the value is at its bound anyway
  return { estimate: v, interval: [lo ?? v, hi ?? v] };
}

/**
 * PPV and NPV at `prevalence` from the operating point's counts, with intervals at `level`
 * (default 0.95; see the module comment for how).
 * @throws UsageError for a prevalence outside [0, 1], or counts without a COVID or a non-COVID image.
 */
export function predictiveValuesAt(c: OperatingCounts, prevalence: number, level = 0.95): PredictiveValuesAt {
  if (!(prevalence >= 0 && prevalence <= 1)) throw new UsageError(`prevalence must be in [0, 1], got ${prevalence}`);
  const pos = c.tp + c.fn;
  const neg = c.tn + c.fp;
  if (pos === 0 || neg === 0) throw new UsageError(`PPV and NPV need COVID and non-COVID images, got ${pos} COVID and ${neg} non-COVID`);
  const each = 1 - (1 - level) / 2;
  const [seLo, seHi] = wilsonInterval(c.tp, pos, each);
  const [spLo, spHi] = wilsonInterval(c.tn, neg, each);
  const point = predictiveValues(c.tp / pos, c.tn / neg, prevalence);
  const lo = predictiveValues(seLo, spLo, prevalence);
  const hi = predictiveValues(seHi, spHi, prevalence);
  return { prevalence, ppv: between(point.ppv, lo.ppv, hi.ppv), npv: between(point.npv, lo.npv, hi.npv) };
}

/**
 * PPV and NPV at several prevalences, ascending and without repeats: the report's defaults (1%,
 * 5%, 10%), the test set's own class mix and any the user asks for.
 */
export function predictiveValueTable(c: OperatingCounts, prevalences: readonly number[], level = 0.95): PredictiveValuesAt[] {
  const unique = [...new Set(prevalences.map((p) => Number(p.toPrecision(12))))].sort((a, b) => a - b);
  return unique.map((p) => predictiveValuesAt(c, p, level));
}
