/**
 * Heatmaps for a run's report, as the paper's Fig. 14: class activation maps of a few COVID test
 * images (evenly spaced ranks of P(COVID)) on one fixed colour scale, written as one panel into
 * the run's explanations folder, which the run report shows.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeepCovidError } from '../errors.js';
import { explainFiles } from '../tasks/explain-files.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { ReportRun } from './run-data.js';
import { pickSamples } from './sample-grid.js';

/** The panel's file name in `<run>/explanations/`. */
export const FIG14_PANEL = 'fig14-cam.png';

/**
 * Writes `<run>/explanations/fig14-cam.png` (CAM, fixed scale) for `count` COVID test images.
 * Returns null when written, else why not (no test predictions, no feature map, the images or
 * the backbone file not available here); never throws for those.
 */
export async function writeFig14Panel(run: ReportRun, count = 4): Promise<string | null> {
  const picks = pickSamples(run.predictions, 1, count);
  if (!picks.length) return 'the run has no COVID test predictions';
  if (!run.record.backbone.manifest.features.map) return `${run.record.backbone.name} exposes no feature map, so there is no CAM`;
  const tmp = await mkdtemp(join(tmpdir(), 'dc-fig14-'));
  try {
    const summary = await explainFiles({
      run: run.dir, files: picks.map((p) => join(run.record.data.root, p.file)), method: 'cam', out: tmp, scale: 'fixed',
    });
    if (!summary.panel) return `none of the ${picks.length} test images could be read from ${run.record.data.root}`;
    await writeFileAtomic(join(run.dir, 'explanations', FIG14_PANEL), await readFile(summary.panel));
    return null;
  } catch (err) {
    if (err instanceof DeepCovidError) return err.message.split('\n')[0];
    throw err;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
