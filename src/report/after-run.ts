import { DeepCovidError } from '../errors.js';
import { writeReproduceReport } from './reproduce-report.js';
import { writeRunReport } from './run-report.js';

/**
 * Writes the report of a folder that `train` or `reproduce` just finished (<dir>/report). A
 * failing report must not make the finished run look failed, so problems are logged, not thrown.
 */
export async function reportAfterRun(dir: string, kind: 'run' | 'reproduce', log: (msg: string) => void): Promise<void> {
  try {
    const warn = (m: string) => log(`warning: ${m}`);
    const res: { out: string; notes?: string[] } = kind === 'run' ? await writeRunReport(dir, undefined, { warn }) : await writeReproduceReport(dir, undefined, { warn });
    for (const n of res.notes ?? []) log(`note: ${n}`);
    log(`report written to ${res.out}/report.html`);
  } catch (err) {
    const msg = err instanceof DeepCovidError || err instanceof Error ? err.message : String(err);
    log(`warning: the report of ${dir} could not be written (${msg}); retry with: deep-covid report --${kind} ${dir}`);
  }
}
