/**
 * The words the DICOM results use, in one place so the report and the captioned image say the
 * same thing. ASCII only: some viewers show nothing else correctly.
 */
import type { GateVerdict, PacsModelInfo, PacsPrediction } from '../types.js';

export const RESEARCH_NOTICE = 'Research software, not a diagnostic device: do not use this result for any clinical decision.';

export const SERIES_DESCRIPTION = Object.freeze({
  sr: 'deep-covid AI result (research only)',
  sc: 'deep-covid heatmap (research only)',
});

const GATE_WORDS: Record<GateVerdict['status'], string> = {
  passed: 'passed',
  warned: 'passed with warnings',
  refused: 'REFUSED: no prediction was made',
  'not-assessed': 'not assessed',
};

/** "Input gate: ..." with the reasons. */
export function gateLine(g: GateVerdict): string {
  return `Input gate: ${GATE_WORDS[g.status]}${g.reasons.length ? ` - ${g.reasons.join('; ')}` : ''}`;
}

/** The call in words. */
export function callWords(label: 'covid' | 'non'): string {
  return label === 'covid' ? 'COVID-19 POSITIVE at the operating threshold' : 'not COVID-19 at the operating threshold';
}

/** The lines burnt into the secondary capture (and summarised in the report). */
export function captionLines(pred: PacsPrediction, model: PacsModelInfo): string[] {
  const lines = [`deep-covid ${model.backbone} (${model.version}) - RESEARCH SOFTWARE, NOT A DIAGNOSTIC DEVICE`];
  if (model.warning) lines.push(model.warning);
  if (pred.score) {
    const s = pred.score;
    lines.push(`P(COVID) = ${s.probability.toFixed(3)}, threshold ${s.threshold.toFixed(3)}: ${callWords(s.label)}`);
    if (s.overlayPng) lines.push(`Heatmap: ${s.overlayMethod} over the centre crop the model saw.`);
    if (s.overlayPng) lines.push('Bright = pushed the model towards COVID; it shows where the model looked, not where disease is.');
  }
  lines.push(gateLine(pred.gate));
  return lines;
}
