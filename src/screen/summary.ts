import type { Decision, ScreenRow } from './results.js';

/** What a screening did, for the end-of-run report. */
export interface ScreenSummary {
  /** Inputs of the source. */
  inputs: number;
  /** Inputs that already had a row (same name and content) and were not touched. */
  skipped: number;
  /** Rows written by this call. */
  written: number;
  /** Of those, rows copied from an earlier row with the same content (no prediction needed). */
  reused: number;
  /** Rows per decision over every input of the source (skipped ones included). */
  byDecision: Record<Decision, number>;
  /** Error rows per kind over every input of the source. */
  byErrorKind: Record<string, number>;
  /** Files of a source folder left out because their names are not image names. */
  ignored: number;
  seconds: number;
  /** New rows per second. */
  rowsPerSecond: number;
  /** True when the results file ended in a torn line (from a crash), which was removed first. */
  droppedTornLine: boolean;
  /** True when the work stopped early (signal): a rerun finishes it. */
  stopped: boolean;
}

/** Tallies rows by decision and error kind. */
export class RowTally {
  readonly byDecision: Record<Decision, number> = { covid: 0, non: 0, refused: 0, error: 0 };
  readonly byErrorKind: Record<string, number> = {};

  add(row: Pick<ScreenRow, 'decision' | 'error_kind'>): void {
    this.byDecision[row.decision]++;
    if (row.decision === 'error') {
      const k = row.error_kind || 'other';
      this.byErrorKind[k] = (this.byErrorKind[k] ?? 0) + 1;
    }
  }
}
