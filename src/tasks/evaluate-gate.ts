/**
 * What the input gate did during `evaluate`: which images it refused (no P(COVID), left out of the
 * metrics), which it warned about (kept), per reason, and whether it was switched off.
 */
import type { DatasetItem } from '../dataset/read.js';
import { refusesOrWould, type GateResult } from '../gate/index.js';
import { formatCsv } from '../util/csv.js';
import { mdCode, mdText } from '../util/markdown-text.js';

/** One refused or warned image. */
export interface GatedImage {
  file: string;
  label: 'covid' | 'non';
  verdict: 'refused' | 'warned';
  /** Reason codes that refused (or would have) or warned. */
  reasons: string[];
  /** The first of those reasons in words. */
  message: string;
}

/** The gate's part of an evaluation (metrics.json's `gate`). */
export interface EvaluationGateSummary {
  /** false: the gate was switched off (research use): nothing was refused, every image is in the metrics. */
  enabled: boolean;
  /** Images the gate refused: no P(COVID), not in the metrics. */
  refused: number;
  /** With the gate off: images it would have refused (they are in the metrics). */
  wouldRefuse: number;
  /** Images predicted with a warning (in the metrics). */
  warned: number;
  /** Images refused (or, gate off, that would have been) for each reason code; an image may have several. */
  refusedByReason: Record<string, number>;
  /** Warned images for each reason code. */
  warnedByReason: Record<string, number>;
  /** Every refused (or would-be refused) and warned image. */
  images: GatedImage[];
}

/** Tallies the gate's results of the images that were read (refused or predicted), in item order. */
export function summariseGate(results: readonly { item: DatasetItem; gate: GateResult }[], enabled: boolean): EvaluationGateSummary {
  const s: EvaluationGateSummary = { enabled, refused: 0, wouldRefuse: 0, warned: 0, refusedByReason: {}, warnedByReason: {}, images: [] };
  const count = (into: Record<string, number>, codes: string[]) => {
    for (const c of new Set(codes)) into[c] = (into[c] ?? 0) + 1;
  };
  for (const { item, gate } of results) {
    const refusing = gate.reasons.filter(refusesOrWould);
    const warning = gate.reasons.filter((r) => r.level === 'warn' && r.code !== 'gate-disabled' && !refusesOrWould(r));
    const label = item.label === 1 ? 'covid' : 'non';
    if (refusing.length) {
      if (gate.verdict === 'refused') s.refused++;
      else s.wouldRefuse++;
      count(s.refusedByReason, refusing.map((r) => r.code));
      s.images.push({ file: item.rel, label, verdict: 'refused', reasons: refusing.map((r) => r.code), message: refusing[0].message });
    } else if (warning.length) {
      s.warned++;
      count(s.warnedByReason, warning.map((r) => r.code));
      s.images.push({ file: item.rel, label, verdict: 'warned', reasons: warning.map((r) => r.code), message: warning[0].message });
    }
  }
  return s;
}

/** gate.csv: every refused (or would-be refused) and warned image with its reasons. */
export function gateCsv(s: EvaluationGateSummary): string {
  const rows = s.images.map((g) => ({ file: g.file, label: g.label, verdict: s.enabled || g.verdict === 'warned' ? g.verdict : 'would-refuse', reasons: g.reasons.join(' '), message: g.message }));
  return formatCsv(rows, ['file', 'label', 'verdict', 'reasons', 'message']);
}

const byReason = (r: Record<string, number>) => Object.entries(r).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k, n]) => `${k} ${n}`).join(', ');

/** The summary's input-gate section as Markdown lines (the refused images listed, at most `listMax`). */
export function gateSummaryMarkdown(s: EvaluationGateSummary, readable: number, listMax = 50): string[] {
  const md: string[] = ['## Input gate', ''];
  if (!s.enabled) {
    md.push(`**The input gate was switched off** (research use): nothing was refused. ${s.wouldRefuse} of the ${readable} images would have been refused${s.wouldRefuse ? ` (${byReason(s.refusedByReason)})` : ''} and are in the metrics; their P(COVID) may be meaningless.`, '');
  } else {
    md.push(`- ${s.refused} of the ${readable} readable images refused: no P(COVID), not in the metrics${s.refused ? ` (${byReason(s.refusedByReason)})` : ''}`);
  }
  md.push(`- ${s.warned} predicted with a warning (in the metrics)${s.warned ? ` (${byReason(s.warnedByReason)})` : ''}`, '');
  const refused = s.images.filter((g) => g.verdict === 'refused');
  if (refused.length) {
    md.push(`| ${s.enabled ? 'refused' : 'would have been refused'} | label | reasons |`, '|---|---|---|');
    for (const g of refused.slice(0, listMax)) md.push(`| ${mdCode(g.file)} | ${g.label} | ${mdText(g.reasons.join(', '))} |`);
    if (refused.length > listMax) md.push(`| … ${refused.length - listMax} more | | |`);
    md.push('');
  }
  if (s.images.length) md.push('Every refused and warned image, with its reasons in words: gate.csv.', '');
  return md;
}
