/** Plain-language sentences for the page: numbers with their meaning, never bare. */
import type { PredictiveValuesAt } from '../evaluate/predictive-values.js';
import type { ApiAssessed, ApiModelCard, ApiOperatingPoint, ApiProportion } from '../server/api-types.js';

/** 0.2719 → "27.2%". */
export function percent(x: number, digits = 1): string {
  return `${(100 * x).toFixed(digits)}%`;
}

/** The probability as shown on the page (the e2e test formats the API value the same way). */
export function probabilityText(p: number): string {
  return percent(p, 1);
}

/** "97.4%, 95% CI 92.5–99.1%" or "not measurable (no such test images)". */
export function proportionText(p: ApiProportion): string {
  if (p.estimate === null) return 'not measurable (no such test images)';
  const ci = p.ci95 ? `, 95% CI ${percent(p.ci95[0])}–${percent(p.ci95[1])}` : '';
  return `${percent(p.estimate)}${ci}`;
}

/** What the operating threshold did on the run's test set, in words. */
export function operatingPointSentence(op: ApiOperatingPoint): string {
  const c = op.confusion;
  return `At this threshold the model found ${c.tp} of ${c.tp + c.fn} COVID test images (sensitivity ${proportionText(op.sensitivity)}) ` +
    `and wrongly flagged ${c.fp} of ${c.fp + c.tn} non-COVID ones (specificity ${proportionText(op.specificity)}).`;
}

/** The verdict line of a prediction. */
export function verdictText(r: ApiAssessed): string {
  return r.label === 'covid'
    ? `Flagged: P(COVID) ${probabilityText(r.probability)} is at or above the threshold of ${percent(r.threshold)}.`
    : `Not flagged: P(COVID) ${probabilityText(r.probability)} is below the threshold of ${percent(r.threshold)}.`;
}

/** What the threshold means for a reader who is not a statistician. */
export function thresholdSentence(threshold: number, card: ApiModelCard | null): string {
  const how = card ? ` ${card.threshold.howChosen}` : '';
  return `The model flags an image when P(COVID) is at least ${percent(threshold)}.${how}`;
}

/** "12 MiB" style sizes (the same units as the server's messages). */
export { bytesText } from '../util/bytes.js';

/** A map value for a colour bar: two significant digits, no exponent for ordinary values. */
export function mapValueText(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 0.01 && a < 1000 ? String(Number(v.toPrecision(2))) : v.toExponential(1);
}

/** Short form of the operating point for a result card: the share of COVID test images found and of non-COVID ones wrongly flagged. */
export function operatingPointShort(op: ApiOperatingPoint): string {
  const f = (p: ApiProportion) => (p.estimate === null ? 'n/a' : percent(p.estimate));
  return `At this threshold the model found ${f(op.sensitivity)} of the COVID test images and wrongly flagged ${op.specificity.estimate === null ? 'n/a' : percent(1 - op.specificity.estimate)} of the non-COVID ones.`;
}

/** PPV and NPV at a prevalence, in words: what a positive and a negative call mean there. */
export function predictiveValuesSentence(v: PredictiveValuesAt): string {
  const ci = (x: { estimate: number; interval: [number, number] }) => `${percent(x.estimate)} (95% CI ${percent(x.interval[0])}–${percent(x.interval[1])})`;
  const where = `Where ${percent(v.prevalence)} of the patients X-rayed have COVID-19`;
  const pos = v.ppv ? `an image the model flags has COVID-19 with probability ${ci(v.ppv)} (PPV)` : 'the model flags nothing, so PPV is undefined';
  const neg = v.npv ? `one it does not flag is free of it with probability ${ci(v.npv)} (NPV)` : 'NPV is undefined';
  return `${where}, ${pos}, and ${neg}.`;
}
