// Ensembles: averaging and threshold chosen on the members' shared validation split; the ensemble
// folder is a model that predict, evaluate and explain load like a run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunError } from '../src/errors.js';
import { rocAuc, thresholdForSensitivity } from '../src/evaluate/index.js';
import { FeatureCache } from '../src/features/cache.js';
import { loadModel, isPredicted } from '../src/model/index.js';
import { buildEnsemble, combineProbabilities } from '../src/protocol/ensemble.js';
import { readRunDir } from '../src/protocol/run-folder.js';
import { trainRun } from '../src/protocol/train-run.js';
import { evaluateRun } from '../src/tasks/evaluate-run.js';
import { parseCsv } from '../src/util/csv.js';
import { makeTinyDataset } from './helpers/tiny-dataset.js';
import { skipNoShared } from './helpers/shared.js';

let data: string;
let work: string;
let cache: FeatureCache;
const base = { epochs: 8, augmentFactor: 2, seed: 5 };

before(async () => {
  data = await makeTinyDataset({ train: [16, 20], test: [8, 8], perPatient: 2, manifest: true, seed: 4 });
  work = await mkdtemp(join(tmpdir(), 'dc-ens-'));
  cache = new FeatureCache(join(work, 'cache'));
});
after(async () => {
  await rm(data, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

const probsOf = async (dir: string, file: string) => new Map(parseCsv(await readFile(join(dir, file), 'utf8')).map((r) => [r.file, Number(r.probability)]));

test('an ensemble chooses its averaging and threshold on validation and predicts the mean of its members', { skip: skipNoShared, timeout: 600_000 }, async () => {
  const a = join(work, 'squeeze');
  const b = join(work, 'mobile');
  await trainRun({ data, out: a, config: { ...base, backbone: 'squeezenet1_1' }, cache });
  await trainRun({ data, out: b, config: { ...base, backbone: 'mobilenet_v2' }, cache });
  const ens = await buildEnsemble({ runs: [a, b], out: join(work, 'ens') });

  // validation: the chosen combination is the one with the higher AUC, the threshold reaches the target
  const va = await probsOf(a, 'val-predictions.csv');
  const vb = await probsOf(b, 'val-predictions.csv');
  const valRows = parseCsv(await readFile(join(a, 'val-predictions.csv'), 'utf8'));
  const labels = Uint8Array.from(valRows, (r) => (r.label === 'covid' ? 1 : 0));
  const members = [valRows.map((r) => va.get(r.file)!), valRows.map((r) => vb.get(r.file)!)];
  const aucP = rocAuc(combineProbabilities(members, 'probability'), labels);
  const aucL = rocAuc(combineProbabilities(members, 'logit'), labels);
  assert.equal(ens.record.combine, aucL > aucP ? 'logit' : 'probability');
  assert.equal(ens.record.threshold.value, thresholdForSensitivity(combineProbabilities(members, ens.record.combine), labels, 0.98) ?? 0.5);

  // the test predictions are the combination of the members' test predictions
  const ta = await probsOf(a, 'predictions.csv');
  const tb = await probsOf(b, 'predictions.csv');
  const te = await probsOf(ens.dir, 'predictions.csv');
  for (const [file, p] of te) assert.ok(Math.abs(p - combineProbabilities([[ta.get(file)!], [tb.get(file)!]], ens.record.combine)[0]) < 2e-6, file);
  assert.ok(ens.metrics?.auc);

  // the folder is a model: predict gives the same as the stored test predictions, at the ensemble's threshold
  const files = [...te.keys()].slice(0, 3);
  const model = await loadModel(ens.dir);
  try {
    assert.match(model.info.backbone, /^ensemble\(squeezenet1_1\+mobilenet_v2\)$/);
    const preds = await model.predict(files.map((f) => join(data, f)), { cache });
    preds.forEach((p, i) => {
      assert.ok(isPredicted(p));
      assert.ok(Math.abs(p.probability - te.get(files[i])!) < 1e-5, `${files[i]}: ${p.probability} vs ${te.get(files[i])}`);
      assert.equal(p.label, p.probability >= ens.record.threshold.value ? 'covid' : 'non');
    });
    const cam = await model.cam(join(data, files[0]));
    assert.equal(cam.map.width, 224);
    assert.ok(Math.abs(cam.probability - te.get(files[0])!) < 1e-5);
  } finally {
    await model.release();
  }
  const ev = await evaluateRun({ run: ens.dir, data, split: 'test', cache });
  assert.ok(Math.abs(ev.metrics.auc!.value - ens.metrics!.auc!.value) < 1e-9);

  // an ensemble is not a run: reading it as one says what it is
  await assert.rejects(readRunDir(ens.dir), /ensemble of runs/);
});

test('members trained with another seed (another validation split) are refused', { skip: skipNoShared, timeout: 600_000 }, async () => {
  const c = join(work, 'squeeze-seed6');
  await trainRun({ data, out: c, config: { ...base, seed: 6, backbone: 'squeezenet1_1' }, cache });
  await assert.rejects(buildEnsemble({ runs: [join(work, 'squeeze'), c], out: join(work, 'ens-bad') }), (e: unknown) => e instanceof RunError && /must share the dataset, seed and validation split/.test(e.message));
  await assert.rejects(buildEnsemble({ runs: [c], out: join(work, 'ens-one') }), /at least two runs/);
});
