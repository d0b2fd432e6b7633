/** Markdown tables the reports add to those of protocol/run-files.ts (whose helpers they reuse). */
import type { EvaluationReport, MetricsReport } from '../evaluate/index.js';
import { aucCi, pctCi } from '../protocol/run-files.js';
import { mdText } from '../util/markdown-text.js';

/** AUC with its DeLong interval for any metrics block (aucCi reads only `.auc`). */
export function groupAucCi(m: MetricsReport): string {
  return aucCi(m as EvaluationReport);
}

/** Per-group table (source or view): size, classes, patients, AUC and operating-point metrics with CIs. */
export function groupTable(groupName: string, groups: Record<string, MetricsReport>): string {
  const lines = [
    `| ${groupName} | images | COVID | non-COVID | patients | AUC (95% CI) | sensitivity (95% CI) | specificity (95% CI) |`,
    '|---|---:|---:|---:|---:|---|---|---|',
  ];
  for (const [k, g] of Object.entries(groups)) {
    const op = g.operatingPoint;
    lines.push(`| ${mdText(k)} | ${g.n} | ${g.positives} | ${g.negatives} | ${g.patients ?? 'n/a'} | ${g.auc ? groupAucCi(g) : 'n/a (one class)'} | ${pctCi(op.sensitivity)} | ${pctCi(op.specificity)} |`);
  }
  return lines.join('\n');
}

/** PPV / NPV / F1 at the operating point, with the prevalence they assume. */
export function operatingExtrasTable(m: EvaluationReport): string {
  const op = m.operatingPoint;
  const f = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
  return [
    '| threshold | prevalence assumed | PPV | NPV | precision (this set) | F1 |',
    '|---:|---:|---:|---:|---:|---:|',
    `| ${op.threshold.toFixed(4)} | ${(100 * op.prevalence).toFixed(1)}% | ${f(op.ppv)} | ${f(op.npv)} | ${f(op.precision)} | ${f(op.f1)} |`,
  ].join('\n');
}
