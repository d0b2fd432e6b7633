/**
 * What the PACS services report while they work. The library never prints: the CLI turns these
 * into log lines. No event carries a patient identifier or a UID, only opaque references.
 */
import type { InstanceOutcome } from './analyse.js';

/** Counts over a study or a whole pass. */
export interface PacsCounts {
  /** Instances seen. */
  instances: number;
  /** Predicted (or refused by the gate) and results stored. */
  analysed: number;
  /** Not frontal chest films. */
  skipped: number;
  /** Done in an earlier pass (watch state). */
  alreadyDone: number;
  failed: number;
  /** Analysed and called COVID-19 positive at the threshold. */
  positive: number;
  /** Refused by the input gate. */
  refused: number;
}

export function emptyCounts(): PacsCounts {
  return { instances: 0, analysed: 0, skipped: 0, alreadyDone: 0, failed: 0, positive: 0, refused: 0 };
}

/** Adds one instance's outcome to counts. */
export function countOutcome(c: PacsCounts, o: InstanceOutcome | 'already-done'): void {
  c.instances++;
  if (o === 'already-done') c.alreadyDone++;
  else if (o.status === 'skipped') c.skipped++;
  else if (o.status === 'failed') c.failed++;
  else {
    c.analysed++;
    if (o.prediction.score?.label === 'covid') c.positive++;
    if (o.prediction.gate.status === 'refused') c.refused++;
  }
}

export function addCounts(into: PacsCounts, c: PacsCounts): void {
  for (const k of Object.keys(into) as (keyof PacsCounts)[]) into[k] += c[k];
}

export type PacsEvent =
  | { type: 'instance'; outcome: InstanceOutcome; stored: number }
  | { type: 'study'; studyRef: string; counts: PacsCounts; ms: number }
  | { type: 'pass'; counts: PacsCounts; studies: number; ms: number }
  | { type: 'error'; message: string; studyRef?: string; ref?: string }
  | { type: 'association'; event: 'accepted' | 'rejected' | 'closed'; detail: string }
  | { type: 'listening'; port: number; aet: string };

/** A pass's or a study's counts in words: "3 analysed (1 COVID-19 positive), 1 skipped". */
export function describeCounts(c: PacsCounts): string {
  const parts = [`${c.analysed} analysed${c.analysed ? ` (${c.positive} COVID-19 positive${c.refused ? `, ${c.refused} refused by the input gate` : ''})` : ''}`];
  if (c.skipped) parts.push(`${c.skipped} skipped (not frontal chest films)`);
  if (c.alreadyDone) parts.push(`${c.alreadyDone} already done`);
  if (c.failed) parts.push(`${c.failed} failed`);
  return parts.join(', ');
}
