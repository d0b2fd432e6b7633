// `train` fits the gate: gate.json in the run folder, fitted on the training originals' pooled
// features (SqueezeNet's maps pooled), cut-offs from the validation images, readable back.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Backbone } from '../src/backbone/backbone.js';
import { FeatureCache } from '../src/features/cache.js';
import { extractFeatures } from '../src/features/extract.js';
import { gateFromJSON, scoreFeatures } from '../src/gate/index.js';
import { readDataset } from '../src/dataset/read.js';
import { trainRun } from '../src/protocol/train-run.js';
import { parseCsv } from '../src/util/csv.js';
import { makeTinyDataset } from './helpers/tiny-dataset.js';
import { SHARED, skipNoShared } from './helpers/shared.js';

let data: string;
let work: string;

before(async () => {
  data = await makeTinyDataset({ train: [16, 24], test: [4, 4], perPatient: 2, manifest: true, seed: 5 });
  work = await mkdtemp(join(tmpdir(), 'dc-gate-run-'));
});
after(async () => {
  await rm(data, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

test('train writes gate.json: density on the training and validation originals, cross-fitted cut-offs', { skip: skipNoShared }, async () => {
  const out = join(work, 'run');
  const cache = new FeatureCache(join(work, 'cache'));
  const res = await trainRun({ data, out, config: { backbone: 'squeezenet1_1', epochs: 3, augmentFactor: 3, seed: 1 }, cache });
  const gate = gateFromJSON(JSON.parse(await readFile(join(out, 'gate.json'), 'utf8')), join(out, 'gate.json'));
  const rec = res.record;
  assert.equal(gate.backboneSha256, rec.backbone.sha256);
  // originals only (augmented COVID copies are not what a user drops), training and validation
  assert.equal(gate.density.n, rec.data.counts.train.n + rec.data.counts.val.n);
  const cal = gate.calibration;
  assert.ok(cal.split === 'cross-fitted', cal.split);
  assert.deepEqual([cal.n, cal.folds, cal.groupedBy], [gate.density.n, 5, 'patient']);
  assert.ok(cal.flagged <= Math.ceil(0.05 * cal.n), `${cal.flagged} of ${cal.n} out-of-fold scores above the cut-off`);
  assert.equal(gate.density.dim, 512);
  assert.ok(rec.timings.fitGate >= 0);

  // the stored density was fitted on the validation images too: they score below the refusal cut-off
  const ds = await readDataset(data);
  const valRows = parseCsv(await readFile(join(out, 'val-predictions.csv'), 'utf8'));
  const valFiles = valRows.map((r) => ds.items.find((i) => i.rel === r.file)!.file);
  const bb = await Backbone.load('squeezenet1_1');
  try {
    const pooled = await extractFeatures(bb, valFiles.map((file) => ({ file })), { tensor: 'pooled', cache });
    assert.deepEqual(pooled.failures, []);
    const s = scoreFeatures(gate, pooled.features!, valFiles.length);
    assert.ok(Array.from(s).every((x) => x < gate.farCutoff));
    // a CT slice is nothing like these synthetic training images
    const ct = await extractFeatures(bb, [{ file: join(SHARED, 'data', 'not-cxr', 'ct', 'ct-004.png') }], { tensor: 'pooled', cache });
    assert.deepEqual(ct.failures, []);
    assert.ok(scoreFeatures(gate, ct.features!, 1)[0] > gate.farCutoff);
  } finally {
    await bb.release();
  }
});
