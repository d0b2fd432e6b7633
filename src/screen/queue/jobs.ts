import type { BatchItem, ItemOutcome } from '../model.js';

/** Payload of a screening job: a batch of files (paths as the coordinator sees them) for one model. */
export interface ScreenJobData {
  v: 1;
  /** ModelInfo.id the results must come from; a worker with another model refuses the job. */
  model: string;
  items: Required<BatchItem>[];
}

/** Name of screening jobs in their queue. */
export const SCREEN_JOB = 'screen-batch';

/** The job's return value as a list of outcomes, or null when it is not one (e.g. a worker of another version). */
export function outcomesOf(value: unknown, n: number): ItemOutcome[] | null {
  if (!Array.isArray(value) || value.length !== n) return null;
  for (const o of value as unknown[]) {
    if (typeof o !== 'object' || o === null) return null;
    const r = o as Record<string, unknown>;
    const ok = (typeof r.probability === 'number' && Number.isFinite(r.probability) && typeof r.gate === 'string')
      || (r.refused === true && typeof r.gate === 'string')
      || (typeof r.error === 'string' && typeof r.kind === 'string');
    if (!ok) return null;
  }
  return value as ItemOutcome[];
}
