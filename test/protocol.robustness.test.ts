// A run trained with robustness options records them (config and preprocessing contract, lung fields
// only included), and the model loaded from it preprocesses predictions the same way: the
// probability of an image equals the one computed by hand with the recorded contract, and differs
// from the paper's contract.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureCache } from '../src/features/cache.js';
import { loadGreyImage } from '../src/input/load-image.js';
import { DeepCovidModel } from '../src/model/index.js';
import { GREY_LEVEL_PRESETS } from '../src/preprocess/grey-levels.js';
import { lungFieldOf } from '../src/preprocess/lung-region.js';
import type { PreprocessConfig } from '../src/preprocess/config.js';
import { greyToTensor, resizeAndCrop } from '../src/preprocess/to-tensor.js';
import { samplingGroups, trainRun } from '../src/protocol/train-run.js';
import { readDataset } from '../src/dataset/read.js';
import { makeTinyDataset } from './helpers/tiny-dataset.js';
import { projectRoot, skipNoShared, SYNTHETIC_SQUEEZENET } from './helpers/shared.js';
import { spawnSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { exportWeb } from '../src/server/export-web.js';
import { SITE_CONFIG } from '../src/server/site-config.js';

let data: string;
let work: string;
let run: string;

before(async () => {
  if (skipNoShared) return;
  work = await mkdtemp(join(tmpdir(), 'dc-robust-'));
  data = await makeTinyDataset({ train: [8, 8], test: [3, 3], manifest: true, seed: 4 });
  run = join(work, 'run');
  await trainRun({
    data, out: run, modelPath: SYNTHETIC_SQUEEZENET, cache: new FeatureCache(join(work, 'cache')),
    config: { backbone: 'squeezenet1_1', epochs: 2, augmentFactor: 2, seed: 1, greyLevels: 'clahe', borderCrop: 0.08, lungField: true, acquisitionAugment: true, sampling: 'source-class' },
  });
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  if (data) await rm(data, { recursive: true, force: true });
});

test('the run records its robustness options and the contract they make', { skip: skipNoShared }, async () => {
  const rec = JSON.parse(await readFile(join(run, 'run.json'), 'utf8'));
  assert.equal(rec.config.greyLevels, 'clahe');
  assert.equal(rec.config.borderCrop, 0.08);
  assert.equal(rec.config.lungField, true);
  assert.equal(rec.config.acquisitionAugment, true);
  assert.equal(rec.config.sampling, 'source-class');
  const pre: PreprocessConfig = rec.backbone.manifest.preprocess;
  assert.deepEqual(pre.greyLevels, GREY_LEVEL_PRESETS.clahe);
  assert.deepEqual(pre.lungField, lungFieldOf());
  assert.equal(pre.resizeShorter, 267);
  assert.deepEqual(pre.crop, [224, 224]);
  // acquisition augmentation gives the non-COVID training images one augmented copy each
  const { train, trainAugmented } = rec.data.counts;
  assert.equal(trainAugmented.n - trainAugmented.covid, 2 * (train.n - train.covid));
  assert.equal(trainAugmented.covid, 2 * train.covid);
  assert.match(await readFile(join(run, 'summary.md'), 'utf8'), /Robustness options: grey levels clahe, border crop 8% per edge, lung fields only, acquisition augmentation \(both classes\), source-class-balanced sampling/);
});

test('the model predicts with the run\'s recorded preprocessing', { skip: skipNoShared }, async () => {
  const rec = JSON.parse(await readFile(join(run, 'run.json'), 'utf8'));
  const recorded: PreprocessConfig = rec.backbone.manifest.preprocess;
  const file = join(data, 'test', 'covid', 'img-000.png');
  const model = await DeepCovidModel.load(run, { modelPath: SYNTHETIC_SQUEEZENET });
  try {
    assert.deepEqual(model.preprocess, recorded);
    const { probs, ok } = await model.scoreRequests([{ file }], { cache: null });
    assert.equal(ok[0], 1);
    const byHand = async (cfg: PreprocessConfig) => {
      const tensor = new Float32Array(3 * 224 * 224);
      greyToTensor(await resizeAndCrop(await loadGreyImage(file), cfg), cfg, tensor);
      return (await model.score(tensor, 1))[0];
    };
    assert.ok(Math.abs(probs[0] - (await byHand(recorded))) < 1e-6, `predicted ${probs[0]}, by hand ${await byHand(recorded)}`);
    const { greyLevels: _none, lungField: _all, ...paper } = { ...recorded, resizeShorter: 224 };
    assert.ok(Math.abs(probs[0] - (await byHand(paper))) > 1e-6, 'the options change the probability (else this test could not fail)');
    // the lung-field option alone changes it too (it is applied, not merely recorded)
    const { lungField: _whole, ...wholeCrop } = recorded;
    assert.ok(Math.abs(probs[0] - (await byHand(wholeCrop))) > 1e-6, 'keeping only the lung fields changes the probability');
  } finally {
    await model.release();
  }
});

test('samplingGroups: none for shuffle, one group per source or per source and class', { skip: skipNoShared }, async () => {
  const items = (await readDataset(data)).items.filter((i) => i.split === 'train');
  assert.equal(samplingGroups(items, 'shuffle'), undefined);
  // the tiny set's COVID images come from srcA and the rest from srcB: 2 groups either way
  assert.equal(new Set(samplingGroups(items, 'source')).size, 2);
  const mixed = items.map((it, i) => ({ ...it, source: i % 2 ? 'srcA' : 'srcB' }));
  assert.equal(new Set(samplingGroups(mixed, 'source')).size, 2);
  assert.equal(new Set(samplingGroups(mixed, 'source-class')).size, 4);
});

test('export-web gives the browser the run\'s contract, and the client bundle carries the standardisation code', { skip: skipNoShared }, async () => {
  const web = join(work, 'web');
  const built = spawnSync(process.execPath, [join(projectRoot, 'scripts', 'build-web.mjs'), web], { encoding: 'utf8' });
  assert.equal(built.status, 0, `build-web failed: ${built.stderr}`);
  const site = join(work, 'site');
  await exportWeb({ run, out: site, pageRoot: join(web, 'client'), modelPath: SYNTHETIC_SQUEEZENET });
  const config = JSON.parse(await readFile(join(site, SITE_CONFIG), 'utf8'));
  assert.deepEqual(config.preprocess.greyLevels, GREY_LEVEL_PRESETS.clahe);
  assert.equal(config.preprocess.resizeShorter, 267);
  assert.deepEqual(config.preprocess.lungField, lungFieldOf());
  // the page runs greyToTensor from preprocess/portable.ts, which applies greyLevels: its CLAHE must be in the bundle
  let bundle = '';
  for (const f of await readdir(join(web, 'client'))) if (f.endsWith('.js')) bundle += await readFile(join(web, 'client', f), 'utf8');
  assert.match(bundle, /clipLimit/);
  // …and the lung-field cut (keepLungField reads the contract's lungField and its ellipses)
  assert.match(bundle, /\.lungField/);
  assert.match(bundle, /\.ellipses/);
});

test('source nulling: the run stores the directions it learnt within each class, and its head is orthogonal to them', { skip: skipNoShared }, async () => {
  const mixed = await makeTinyDataset({ train: [24, 24], test: [2, 2], manifest: true, seed: 7 });
  try {
    // two sources inside each class (the tiny set's default ties the source to the class)
    const manifest = join(mixed, 'manifest.csv');
    const lines = (await readFile(manifest, 'utf8')).trimEnd().split('\n');
    await writeFile(manifest, [lines[0], ...lines.slice(1).map((l, i) => l.replace(/,src[AB],/, i % 2 ? ',srcA,' : ',srcB,'))].join('\n') + '\n');
    const out = join(work, 'run-null');
    await trainRun({
      data: mixed, out, modelPath: SYNTHETIC_SQUEEZENET, cache: new FeatureCache(join(work, 'cache')),
      config: { backbone: 'squeezenet1_1', epochs: 2, augmentFactor: 1, seed: 1, sourceNull: 2 },
    });
    const rec = JSON.parse(await readFile(join(out, 'run.json'), 'utf8'));
    assert.equal(rec.config.sourceNull, 2);
    const stored = JSON.parse(await readFile(join(out, rec.training.sourceNull.file), 'utf8'));
    assert.equal(stored.count, rec.training.sourceNull.directions);
    assert.ok(stored.count >= 1, 'a direction was found');
    assert.deepEqual([...new Set(stored.fits.map((f: { source: string }) => f.source))].sort(), ['srcA', 'srcB']);
    const head = JSON.parse(await readFile(join(out, 'head.json'), 'utf8'));
    const c = head.inChannels;
    assert.equal(stored.dim, c);
    for (let r = 0; r < 2; r++) for (const u of stored.directions as number[][]) {
      let dot = 0, norm = 0;
      for (let k = 0; k < c; k++) {
        dot += head.weight[r * c + k] * u[k];
        norm += head.weight[r * c + k] ** 2;
      }
      assert.ok(Math.abs(dot) < 1e-9 * Math.sqrt(norm), `head row ${r} . direction = ${dot}`);
    }
    assert.match(await readFile(join(out, 'summary.md'), 'utf8'), /source nulling \(2 rounds, \d+ directions\)/);
  } finally {
    await rm(mixed, { recursive: true, force: true });
  }
});
