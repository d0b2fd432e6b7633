import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureCache } from '../src/features/cache.js';
import { trainRun } from '../src/protocol/train-run.js';
import { evaluateRun } from '../src/tasks/evaluate-run.js';
import { predictFiles } from '../src/tasks/predict.js';
import { readRunDir } from '../src/protocol/run-folder.js';
import { RunError } from '../src/errors.js';
import { parseCsv } from '../src/util/csv.js';
import { main } from '../src/cli/main.js';
import { makeTinyDataset } from './helpers/tiny-dataset.js';
import { SHARED, skipNoShared } from './helpers/shared.js';

let data: string;
let work: string;
let cache: FeatureCache;
const config = { backbone: 'squeezenet1_1', epochs: 12, augmentFactor: 3, seed: 3 };

before(async () => {
  data = await makeTinyDataset({ train: [16, 24], test: [8, 8], perPatient: 2, manifest: true });
  work = await mkdtemp(join(tmpdir(), 'dc-runs-'));
  cache = new FeatureCache(join(work, 'cache'));
});
after(async () => {
  await rm(data, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

test('train writes a complete run: counts, augmentation, validation by patient, metrics', { skip: skipNoShared }, async () => {
  const out = join(work, 'run-a');
  const res = await trainRun({ data, out, config, cache });
  const files = (await readdir(out)).sort();
  assert.deepEqual(files, ['data-files.csv', 'gate.json', 'head.json', 'history.csv', 'metrics.json', 'predictions.csv', 'run.json', 'summary.md', 'val-predictions.csv']);
  const r = res.record;
  assert.equal(r.data.validationBy, 'patient');
  assert.equal(r.data.counts.train.n + r.data.counts.val.n, 40);
  // each COVID training image plus augmentFactor-1 copies
  assert.equal(r.data.counts.trainAugmented.covid, 3 * r.data.counts.train.covid);
  assert.equal(r.data.counts.trainAugmented.n - r.data.counts.trainAugmented.covid, r.data.counts.train.n - r.data.counts.train.covid);
  assert.deepEqual(r.data.counts.test, { n: 16, covid: 8 });
  const history = parseCsv(await readFile(join(out, 'history.csv'), 'utf8'));
  assert.equal(history.length, 12);
  const best = history.reduce((b, h) => (Number(h.val_loss) < Number(b.val_loss) ? h : b));
  assert.equal(Number(best.epoch), r.training.bestEpoch);
  // validation patients never appear in training
  const valRows = parseCsv(await readFile(join(out, 'val-predictions.csv'), 'utf8'));
  assert.ok(valRows.length === r.data.counts.val.n && valRows.length > 0);
  const preds = parseCsv(await readFile(join(out, 'predictions.csv'), 'utf8'));
  assert.equal(preds.length, 16);
  assert.ok(res.metrics && res.metrics.auc, 'test metrics with an AUC');
  // the bright-disc signal is easy: a working pipeline separates it
  assert.ok(res.metrics.auc.value > 0.8, `AUC ${res.metrics.auc.value}`);
  const summary = await readFile(join(out, 'summary.md'), 'utf8');
  assert.match(summary, /not a diagnostic device/);
  assert.match(summary, /chosen on validation/);
});

test('same seed and data give identical weights and metrics; a run is never overwritten without force', { skip: skipNoShared }, async () => {
  const a = join(work, 'det-a');
  const b = join(work, 'det-b');
  await trainRun({ data, out: a, config, cache });
  await trainRun({ data, out: b, config, cache });
  assert.equal(await readFile(join(a, 'head.json'), 'utf8'), await readFile(join(b, 'head.json'), 'utf8'));
  assert.equal(await readFile(join(a, 'metrics.json'), 'utf8'), await readFile(join(b, 'metrics.json'), 'utf8'));
  await assert.rejects(trainRun({ data, out: a, config, cache }), RunError);
  const other = await trainRun({ data, out: a, config: { ...config, seed: 4 }, cache, force: true });
  assert.notEqual(await readFile(join(a, 'head.json'), 'utf8'), await readFile(join(b, 'head.json'), 'utf8'), 'a new seed replaced the run');
  assert.equal(other.record.config.seed, 4);
  // no partial folders left behind
  assert.deepEqual((await readdir(work)).filter((f) => f.includes('partial') || f.includes('.old-')), []);
});

test('evaluate and predict reuse the run: same probabilities as at training; bad files reported, the rest predicted', { skip: skipNoShared }, async () => {
  const out = join(work, 'run-a');
  const ev = await evaluateRun({ run: out, data, split: 'test', cache });
  const run = await readRunDir(out);
  assert.equal(ev.metrics.auc!.value, run.metrics!.auc!.value);
  // the test split is new to the run: no warning
  assert.deepEqual([ev.overlap.known, ev.overlap.train, ev.overlap.val, ev.overlap.warning], [true, 0, 0, null]);
  // the training split is not: the numbers are inflated, and evaluate says so with the counts
  const onTrain = await evaluateRun({ run: out, data, split: 'train', cache, out: join(work, 'eval-train') });
  const counts = run.record.data.counts;
  assert.equal(onTrain.overlap.train + onTrain.overlap.val, counts.train.n + counts.val.n);
  assert.ok(onTrain.overlap.val > 0 && onTrain.overlap.train > 0);
  assert.match(onTrain.overlap.warning!, /were used to train .* inflated/);
  assert.match(await readFile(join(work, 'eval-train', 'summary.md'), 'utf8'), /\*\*Warning:\*\* \d+ of the \d+ evaluated images were used/);
  const preds = parseCsv(await readFile(join(out, 'predictions.csv'), 'utf8'));
  const bad = join(work, 'not-an-image.png');
  await writeFile(bad, 'hello, not a PNG\n');
  const files = [join(data, preds[0].file), bad, join(data, preds[9].file)];
  const res = await predictFiles({ run: out, files, cache });
  assert.equal(res.length, 3);
  assert.ok('probability' in res[0] && 'probability' in res[2]);
  assert.ok('error' in res[1] && res[1].error.includes(bad) && /not an image/.test(res[1].error));
  if ('probability' in res[0]) assert.ok(Math.abs(res[0].probability - Number(preds[0].probability)) < 1e-6);
  if ('probability' in res[2]) {
    assert.ok(Math.abs(res[2].probability - Number(preds[9].probability)) < 1e-6);
    assert.equal(res[2].label, res[2].probability >= run.record.threshold.value ? 'covid' : 'non');
  }
});

test('evaluate passes every image through the input gate: refused ones are counted, listed and left out of the metrics; --no-gate is stamped', { skip: skipNoShared }, async () => {
  const out = join(work, 'run-a');
  // an external set: 4 + 4 test films of the tiny set, plus a CT slice and a photograph among them
  const ext = join(work, 'external');
  const preds = parseCsv(await readFile(join(out, 'predictions.csv'), 'utf8'));
  for (const cls of ['covid', 'non']) await mkdir(join(ext, cls), { recursive: true });
  for (const p of [...preds.filter((r) => r.label === 'covid').slice(0, 4), ...preds.filter((r) => r.label === 'non').slice(0, 4)]) {
    await copyFile(join(data, p.file), join(ext, p.label, p.file.split('/').pop()!));
  }
  const NOT_CXR = join(SHARED, 'data', 'not-cxr');
  await copyFile(join(NOT_CXR, 'ct', 'ct-004.png'), join(ext, 'non', 'ct-004.png'));
  const photo = (await readdir(join(NOT_CXR, 'photo'))).sort()[0];
  await copyFile(join(NOT_CXR, 'photo', photo), join(ext, 'covid', photo));

  const ev = await evaluateRun({ run: out, data: ext, split: 'all', cache, out: join(work, 'eval-ext') });
  assert.equal(ev.metrics.n, 8, 'the two refused images are not scored');
  assert.equal(ev.gate.enabled, true);
  assert.equal(ev.gate.refused, 2);
  assert.equal(ev.gate.refusedByReason['colour-picture'], 1);
  const refusedFiles = ev.gate.images.filter((g) => g.verdict === 'refused').map((g) => g.file).sort();
  assert.deepEqual(refusedFiles, [`covid/${photo}`, 'non/ct-004.png']);
  const json = JSON.parse(await readFile(join(work, 'eval-ext', 'metrics.json'), 'utf8')) as { n: number; gate: { refused: number; enabled: boolean } };
  assert.deepEqual([json.n, json.gate.refused, json.gate.enabled], [8, 2, true]);
  const gateRows = parseCsv(await readFile(join(work, 'eval-ext', 'gate.csv'), 'utf8'));
  assert.deepEqual(gateRows.filter((r) => r.verdict === 'refused').map((r) => r.file).sort(), refusedFiles);
  assert.ok(gateRows.every((r) => r.message.length > 20 && r.reasons.length > 0));
  assert.equal(parseCsv(await readFile(join(work, 'eval-ext', 'predictions.csv'), 'utf8')).length, 8);
  const summary = await readFile(join(work, 'eval-ext', 'summary.md'), 'utf8');
  assert.match(summary, /2 of the 10 readable images refused: no P\(COVID\), not in the metrics \(.*colour-picture 1/);
  assert.match(summary, /\| `non\/ct-004\.png` \| non \|/);
  assert.match(summary, /calibrated to this set's class mix \(50% COVID\)/);
  assert.match(summary, /\| 1\.0% \| \d+\.\d% \(\d+\.\d%–\d+\.\d%\) \|/);

  // the gate off (research use): everything is scored, and every output says so
  const errs: string[] = [];
  const code = await main(['node', 'deep-covid', 'evaluate', '--run', out, '--data', ext, '--split', 'all', '--out', join(work, 'eval-ext-off'), '--cache', join(work, 'cache'), '--no-gate', '--prevalence', '0.02'], { out: () => {}, err: (m) => errs.push(m) });
  assert.equal(code, 0, errs.join('\n'));
  const off = JSON.parse(await readFile(join(work, 'eval-ext-off', 'metrics.json'), 'utf8')) as { n: number; gate: { enabled: boolean; refused: number; wouldRefuse: number }; predictiveValues: { prevalence: number }[] };
  assert.deepEqual([off.n, off.gate.enabled, off.gate.refused, off.gate.wouldRefuse], [10, false, 0, 2]);
  assert.ok(off.predictiveValues.some((r) => r.prevalence === 0.02), 'the asked prevalence is in the table');
  assert.match(await readFile(join(work, 'eval-ext-off', 'summary.md'), 'utf8'), /The input gate was switched off/);
  assert.match(errs.join('\n'), /input gate is off \(--no-gate\).*2 image\(s\) it would have refused/);
});

test('CLI predict prints JSON lines and exits 1 only when nothing could be predicted', { skip: skipNoShared }, async () => {
  const out = join(work, 'run-a');
  const lines: string[] = [];
  const errs: string[] = [];
  const io = { out: (s: string) => lines.push(s), err: (s: string) => errs.push(s) };
  const preds = parseCsv(await readFile(join(out, 'predictions.csv'), 'utf8'));
  const bad = join(work, 'empty.png');
  await writeFile(bad, '');
  process.exitCode = undefined;
  const code = await main(['node', 'deep-covid', 'predict', '--run', out, '--cache', join(work, 'cache2'), join(data, preds[1].file), bad], io);
  assert.equal(code, 0);
  const parsed = lines.map((l) => JSON.parse(l) as { file: string; probability?: number; error?: string });
  assert.equal(parsed.length, 2);
  assert.equal(typeof parsed[0].probability, 'number');
  assert.match(parsed[1].error!, /empty file/);
  assert.ok(errs.some((e) => e.includes('1 of 2')));
  lines.length = 0;
  const code2 = await main(['node', 'deep-covid', 'predict', '--run', out, '--cache', join(work, 'cache2'), bad], io);
  process.exitCode = undefined;
  assert.equal(code2, 1);
});

test('CLI: bad arguments give a clear error and exit code 2', async () => {
  const errs: string[] = [];
  const io = { out: () => {}, err: (s: string) => errs.push(s) };
  assert.equal(await main(['node', 'deep-covid', 'train', '--data', '/nope', '--out', join(work, 'x'), '--epochs', 'ten'], io), 2);
  assert.match(errs.join('\n'), /--epochs must be a positive whole number/);
  assert.equal(await main(['node', 'deep-covid', 'train', '--out', join(work, 'x')], io), 2);
  assert.match(errs.join('\n'), /--data/);
  const help: string[] = [];
  await main(['node', 'deep-covid', 'reproduce', '--help'], { out: (s) => help.push(s), err: (s) => help.push(s) });
  assert.match(help.join('\n'), /Examples:/);
});

test('a dataset with materialised augmentations (dataset augment) is not augmented again on the fly', { skip: skipNoShared }, async () => {
  const { augmentDataset } = await import('../src/dataset/augment.js');
  const ds2 = await makeTinyDataset({ train: [6, 10], test: [2, 2], perPatient: 1, manifest: true, seed: 9 });
  try {
    await augmentDataset(ds2, { className: 'covid', factor: 3, split: 'train', seed: 0 });
    const notes: string[] = [];
    const res = await trainRun({ data: ds2, out: join(work, 'mat'), config: { ...config, epochs: 2, augmentFactor: 5 }, cache, log: (m) => notes.push(m) });
    assert.equal(res.record.config.augmentFactor, 1);
    assert.ok(notes.some((n) => /materialised augmented copies/.test(n)));
    const c = res.record.data.counts;
    assert.equal(c.train.covid + c.val.covid, 18, 'originals plus their materialised copies, each once');
    assert.equal(c.trainAugmented.covid, c.train.covid);
  } finally {
    await rm(ds2, { recursive: true, force: true });
  }
});
