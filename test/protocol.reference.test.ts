// The full Deep-COVID protocol on the development set against the PyTorch reference run of the
// same protocol (../shared/reference/protocol): AUC within 0.02 and per-image agreement.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureCache } from '../src/features/cache.js';
import { trainRun } from '../src/protocol/train-run.js';
import { shortcutCheck } from '../src/tasks/shortcut-check.js';
import { writeRunReport } from '../src/report/index.js';
import { parseCsv } from '../src/util/csv.js';
import { pearson } from '../src/dataset/fingerprint.js';
import { DEV_SET, REFERENCE_DIR, skipNoShared } from './helpers/shared.js';

const work = await mkdtemp(join(tmpdir(), 'dc-ref-'));
after(() => rm(work, { recursive: true, force: true }));

function ranks(v: number[]): number[] {
  const idx = v.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(v.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
    for (let k = i; k <= j; k++) r[idx[k][1]] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}


for (const backbone of ['squeezenet1_1', 'mobilenet_v2']) {
  test(`${backbone}: dev-set AUC within 0.02 of the PyTorch reference, per-image probabilities agree`, { skip: skipNoShared, timeout: 600_000 }, async () => {
    const metrics = JSON.parse(await readFile(join(REFERENCE_DIR, 'protocol', 'metrics.json'), 'utf8'));
    const refAuc: number = metrics[backbone].test.auc;
    const res = await trainRun({ data: DEV_SET, out: join(work, backbone), config: { backbone }, cache: new FeatureCache(join(work, 'cache')) });
    const auc = res.metrics!.auc!.value;
    const ref = parseCsv(await readFile(join(REFERENCE_DIR, 'protocol', `${backbone}.test-predictions.csv`), 'utf8'));
    const ours = new Map(parseCsv(await readFile(join(work, backbone, 'predictions.csv'), 'utf8')).map((r) => [r.file, Number(r.probability)]));
    assert.equal(ours.size, ref.length, 'the same test images');
    const x = ref.map((r) => ours.get(r.file)!);
    const y = ref.map((r) => Number(r.prob));
    const spearman = pearson(ranks(x), ranks(y));
    const r = pearson(x, y);
    console.log(`${backbone}: AUC ${auc.toFixed(4)} (reference ${refAuc.toFixed(4)}), Pearson ${r.toFixed(3)}, Spearman ${spearman.toFixed(3)}, best epoch ${res.record.training.bestEpoch}, head ${res.record.timings.trainHead} s`);
    assert.ok(Math.abs(auc - refAuc) <= 0.02, `AUC ${auc} vs reference ${refAuc}`);
    assert.ok(spearman >= 0.8, `Spearman ${spearman}`);
    assert.ok(r >= 0.8, `Pearson ${r}`);
    if (backbone === 'squeezenet1_1') await shortcutFlagsDevRun(join(work, backbone), join(work, 'cache'));
  });
}

/**
 * The dev set is confounded by source: the real-weight SqueezeNet run still separates the classes
 * with the lungs hidden, and the shortcut check must say so, store it in the run folder, and the
 * run's report must show it as a table.
 */
async function shortcutFlagsDevRun(run: string, cacheDir: string): Promise<void> {
  const report = await shortcutCheck({ run, data: DEV_SET, cache: new FeatureCache(cacheDir), save: true });
  console.log(`shortcut check: full ${report.auc.full.auc.toFixed(3)}, lungs hidden ${report.auc.lungsHidden.auc.toFixed(3)} (${report.auc.lungsHidden.lower?.toFixed(3)}–${report.auc.lungsHidden.upper?.toFixed(3)})`);
  assert.ok(report.auc.lungsHidden.lower! > 0.55, 'the lungs-hidden AUC of the dev run lies clearly above chance');
  assert.equal(report.flag.flagged, true);
  assert.match(report.flag.reasons[0], /better than chance/);
  const saved = JSON.parse(await readFile(join(run, 'shortcut-check.json'), 'utf8'));
  assert.equal(saved.flag.flagged, true);
  const { out } = await writeRunReport(run);
  const html = await readFile(join(out, 'report.html'), 'utf8');
  assert.match(html, /<table>[\s\S]*?lung region hidden[\s\S]*?<\/table>/i, 'the report shows the shortcut check as a table');
  assert.match(html, /better than chance/);
}
