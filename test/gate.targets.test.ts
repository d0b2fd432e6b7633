// Issue 12's targets, with real ImageNet weights: the gate fitted as `train`
// fits it (covidx5k-dev's training images = the run's training and validation parts, density on
// all of them, cut-offs from 5-fold patient-grouped out-of-fold scores, the warning weighing each
// image's mirror symmetry as gate.json version 3 does), then at most 2% of test
// chest X-rays flagged and at least 95% of not-cxr refused or flagged; every DICOM fixture that is
// not a chest radiograph refused. Images: the whole test set (392: with every 4th image only, 98,
// the 2% target allowed a single flagged film, too coarse to measure it) and every 2nd not-cxr
// image (all 5 photographs), fixed in advance; bench/gate.ts measures the full sets (BENCHMARKS.md).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Backbone } from '../src/backbone/backbone.js';
import { readDataset, splitOf } from '../src/dataset/read.js';
import { FeatureCache } from '../src/features/cache.js';
import { extractFeatures } from '../src/features/extract.js';
import { fitGateCrossFitted, gateFiles, gateFlags, measureSymmetry, type GatedFile, type GateModel } from '../src/gate/index.js';
import { DEV_SET, MODELS_DIR, SHARED, skipNoShared } from './helpers/shared.js';

const NOT_CXR = join(SHARED, 'data', 'not-cxr');
const DICOM = join(SHARED, 'data', 'dicom');

/** Least share of not-cxr refused or flagged: the target, for every backbone. */
const NOT_CXR_FLOOR = 0.95;

for (const backboneName of ['mobilenet_v2', 'squeezenet1_1']) describe(`the gate on the development data (${backboneName}, ImageNet weights)`, { skip: skipNoShared }, () => {
  let backbone: Backbone;
  let gate: GateModel;
  let cache: FeatureCache;
  let work: string;
  let testFiles: string[];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'dc-gate-'));
    cache = new FeatureCache(join(work, 'cache'));
    backbone = await Backbone.load(backboneName, { path: join(MODELS_DIR, `${backboneName}.onnx`) });
    const ds = await readDataset(DEV_SET);
    const inDist = splitOf(ds, 'train');
    const pooled = async (files: string[]) => {
      const res = await extractFeatures(backbone, files.map((file) => ({ file })), { tensor: 'pooled', cache });
      assert.deepEqual(res.failures, []);
      return { data: res.features!, n: files.length, dim: res.dim };
    };
    const symmetry = await measureSymmetry(inDist.map((i) => i.file));
    gate = fitGateCrossFitted(await pooled(inDist.map((i) => i.file)), inDist.map((i) => i.patient!), { backboneSha256: backbone.modelSha256, folds: 5, seed: 0, symmetry });
    testFiles = splitOf(ds, 'test').map((i) => i.file);
  });
  after(async () => {
    await backbone?.release();
    await rm(work, { recursive: true, force: true });
  });

  const flaggedShare = (results: GatedFile[]) => {
    const ok = results.filter((r): r is Extract<GatedFile, { gate: unknown }> => 'gate' in r);
    assert.equal(ok.length, results.length, 'every file was read');
    return ok.filter((r) => gateFlags(r.gate)).length / ok.length;
  };

  test('the cut-offs were set on out-of-fold scores of the training images: few lie above the warning cut-off, and the folds agree', () => {
    const cal = gate.calibration;
    assert.ok(cal.split === 'cross-fitted');
    assert.equal(cal.n, 529);
    assert.ok(cal.flagged <= 0.03 * cal.n, `${cal.flagged} of ${cal.n}`);
    // each fold's own cut-off lies within 5% of the pooled one
    assert.ok(cal.foldCutoffs.every((c) => Math.abs(c / gate.cutoff - 1) < 0.05), JSON.stringify(cal.foldCutoffs));
    assert.ok(gate.farCutoff > gate.cutoff);
    // the evidence cut-off (score and mirror symmetry) lets about as many through
    assert.ok(gate.view && gate.view.n === cal.n && gate.view.flagged <= 0.03 * cal.n, JSON.stringify(gate.view));
  });

  test('at most 2% of the test chest X-rays are flagged, none refused', async () => {
    const results = await gateFiles(backbone, gate, testFiles, { cache });
    const share = flaggedShare(results);
    assert.ok(share <= 0.02, `${(share * 100).toFixed(1)}% of ${results.length} chest X-rays flagged`);
    assert.ok(results.every((r) => 'gate' in r && r.gate.verdict !== 'refused'));
  });

  test(`at least ${100 * NOT_CXR_FLOOR}% of not-cxr are refused or flagged; CT slices and photographs refused`, async () => {
    const perKind: Record<string, number> = {};
    const all: GatedFile[] = [];
    for (const kind of ['ct', 'lateral-xray', 'photo']) {
      const files = readdirSync(join(NOT_CXR, kind)).sort().map((f) => join(NOT_CXR, kind, f)).filter((_, k) => kind === 'photo' || k % 2 === 0);
      const results = await gateFiles(backbone, gate, files, { cache });
      perKind[kind] = flaggedShare(results);
      all.push(...results);
      if (kind !== 'lateral-xray') {
        const refused = results.filter((r) => 'gate' in r && r.gate.verdict === 'refused').length;
        assert.ok(refused >= 0.95 * results.length, `${kind}: ${refused} of ${results.length} refused`);
      }
    }
    const share = flaggedShare(all);
    assert.ok(share >= NOT_CXR_FLOOR, `not-cxr caught: ${(share * 100).toFixed(1)}% (${JSON.stringify(perKind)})`);
    // the photographs are refused by their colour before any learned score
    const photo = all.filter((r) => r.file.includes('/photo/'));
    assert.ok(photo.every((r) => 'gate' in r && r.gate.reasons.some((x) => x.code === 'colour-picture')));
  });

  test('DICOM fixtures: CT, MR, NM and OT refused with the modality named; the RSNA chest radiograph passes', async () => {
    const files = readdirSync(DICOM).filter((f) => f.endsWith('.dcm') && !f.startsWith('bad-')).sort();
    const results = await gateFiles(backbone, gate, files.map((f) => join(DICOM, f)), { cache });
    let named = 0;
    for (const r of results) {
      assert.ok('gate' in r, `${r.file} was read`);
      const g = r.gate;
      const modality = g.header?.modality;
      if (modality && modality !== 'CR' && modality !== 'DX') {
        assert.equal(g.verdict, 'refused', r.file);
        assert.ok(g.reasons.some((x) => x.code === 'not-radiograph' && x.message.includes(`modality ${modality}`)), r.file);
        named++;
      }
    }
    assert.equal(named, 8);
    // the CR films of the hip, lower leg and cervical spine: refused by their header's body part
    for (const f of ['ts-jpeg-extended-12bit-cr.dcm', 'ts-jpeg2000-lossless-cr-monochrome1-10bit.dcm', 'cr-monochrome1-rescale-window-16x16.dcm']) {
      const r = results.find((x) => x.file.endsWith(f))!;
      assert.ok('gate' in r && r.gate.verdict === 'refused' && r.gate.reasons.some((x) => x.code === 'not-chest'), f);
    }
    const rsna = results.find((r) => r.file.endsWith('rsna-monochrome2-jpeg-baseline.dcm'))!;
    assert.ok('gate' in rsna && rsna.gate.verdict === 'passed', JSON.stringify(rsna));
    assert.ok('gate' in rsna && rsna.gate.ood && rsna.gate.ood.score < rsna.gate.ood.cutoff);
    // the relabelled negative of the same film: its header passes, nothing refuses it
    const fake = results.find((r) => r.file.endsWith('fake-monochrome1.dcm'))!;
    assert.ok('gate' in fake && fake.gate.verdict !== 'refused');
  });
});
