/**
 * Class labels as people write them. "Covid", "covid " and "COVID-19" are the COVID class; any
 * other class is non-COVID (ImageFolder's rule: everything but the positive class is negative),
 * unless it looks like a misspelt or qualified positive label ("covd", "covid pneumonia",
 * "recovered"), which is refused rather than silently counted as negative.
 */

/** A label's comparison key: Unicode-normalised, trimmed, lower-case, runs of spaces and underscores as one space. */
export function labelKey(raw: string): string {
  return raw.normalize('NFKC').trim().toLowerCase().replace(/[\s_]+/g, ' ');
}

/** Ways of writing the COVID-19 class (as keys). */
const COVID = /^(covid|covid-? ?19|sars-? ?cov-? ?2|2019-ncov)$/;

/** Ways of writing "not COVID" (which mention COVID but are negative). */
const NOT_COVID = /^(non|non-? ?covid(-? ?19)?|not covid(-? ?19)?|no covid(-? ?19)?|negative|neg)$/;

/** Levenshtein distance, bounded use on short labels only. */
function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** What a written label means. */
export type LabelMeaning = { label: 0 | 1; className: string } | { ambiguous: true };

/**
 * Builds the reader of labels for a positive class. The positive class is matched by key (and,
 * when it is COVID, by its synonyms); every positive label gets `className` "covid" (or the
 * positive class as given), every negative one its label as written, trimmed.
 */
export function labelReader(positiveClass: string): (raw: string) => LabelMeaning {
  const positive = labelKey(positiveClass);
  const positiveIsCovid = COVID.test(positive);
  const positiveName = positiveIsCovid ? 'covid' : positiveClass.trim();
  const mentionsPositive = (k: string) =>
    positiveIsCovid ? /cov|sars|corona/.test(k) || editDistance(k, 'covid') <= 2 : k.includes(positive) || (positive.length >= 4 && editDistance(k, positive) <= 2);
  return (raw) => {
    const k = labelKey(raw);
    if (k === positive || (positiveIsCovid && COVID.test(k))) return { label: 1, className: positiveName };
    if (!NOT_COVID.test(k) && mentionsPositive(k)) return { ambiguous: true };
    return { label: 0, className: raw.trim() };
  };
}

/** Human-readable list of the labels seen with their counts, e.g. `"Covid" (12), "non" (40)`. */
export function labelsSeen(labels: Iterable<string>): string {
  const counts = new Map<string, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  return [...counts].map(([l, n]) => `"${l}" (${n})`).join(', ');
}
