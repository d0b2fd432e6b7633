// The input gate on the prediction path: every prediction carries the gate's verdict; a refused
// image gets no P(COVID) at all; --no-gate (gate: false) refuses nothing and says so.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { makeDevSubset } from './helpers/tiny-dataset.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureCache } from '../src/features/cache.js';
import { DeepCovidModel, isPredicted, isRefused } from '../src/model/index.js';
import { gateFiles, inspectImage } from '../src/gate/index.js';
import { Backbone } from '../src/backbone/backbone.js';
import { probeImage } from '../src/input/load-image.js';
import { trainRun } from '../src/protocol/train-run.js';
import { main } from '../src/cli/main.js';
import { DEV_SET, MODELS_DIR, SHARED, skipNoShared } from './helpers/shared.js';

const DICOM = join(SHARED, 'data', 'dicom');
const NOT_CXR = join(SHARED, 'data', 'not-cxr');
let data: string;
let work: string;
let run: string;
let cache: FeatureCache;

before(async () => {
  if (skipNoShared) return;
  // real chest X-rays (a slice of the dev set), so that what the gate learns is what chest films look like
  work = await mkdtemp(join(tmpdir(), 'dc-gate-'));
  data = await makeDevSubset(DEV_SET, 40, 6);
  cache = new FeatureCache(join(work, 'cache'));
  run = join(work, 'run');
  await trainRun({ data, out: run, config: { backbone: 'squeezenet1_1', epochs: 5, augmentFactor: 2, seed: 2 }, cache });
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  if (data) await rm(data, { recursive: true, force: true });
});

test('train wrote the gate, and predict refuses CT and MR with the modality named, passes a chest CR, and gates a photo', { skip: skipNoShared }, async () => {
  await access(join(run, 'gate.json'));
  const photo = join(NOT_CXR, 'photo', (await readdir(join(NOT_CXR, 'photo'))).sort()[0]);
  const files = [
    join(DICOM, 'ts-explicit-vr-le-ct-16bit-signed-rescale.dcm'),
    join(DICOM, 'ts-implicit-vr-le-mr-16bit-signed.dcm'),
    join(DICOM, 'rsna-monochrome2-jpeg-baseline.dcm'),
    photo,
  ];
  const model = await DeepCovidModel.load(run);
  try {
    assert.ok(model.gate, 'the run has a fitted density model');
    const [ct, mr, chest, pic] = await model.predict(files, { cache });
    for (const [p, modality] of [[ct, 'CT'], [mr, 'MR']] as const) {
      assert.ok(isRefused(p), `${p.file} is refused`);
      assert.ok(!('probability' in p), 'a refused image has no probability');
      assert.equal(p.gate.verdict, 'refused');
      assert.equal(p.gate.reasons[0].code, 'not-radiograph');
      assert.match(p.gate.reasons[0].message, new RegExp(`\\b${modality}\\b`));
    }
    assert.ok(isPredicted(chest), 'the chest radiograph is predicted');
    assert.ok(!chest.gate.reasons.some((r) => r.level === 'refuse'));
    assert.ok(!isPredicted(pic) || pic.gate.verdict !== 'passed', 'a photograph is refused or at least warned about');

    // gate off: nothing refused, every result stamped, the refusal said as what would have been
    const [ctOff] = await model.predict([files[0]], { cache, gate: false });
    assert.ok(isPredicted(ctOff));
    assert.equal(ctOff.gate.disabled, true);
    assert.equal(ctOff.gate.reasons[0].code, 'gate-disabled');
    assert.ok(ctOff.gate.reasons.some((r) => /Would have been refused/.test(r.message)));

    // the single-image path (server, PACS) says the same
    const a = await model.analyse(files[0]);
    assert.equal(a.gate.verdict, 'refused');
    assert.equal(a.probability, null);
    assert.equal(a.cam, null);
  } finally {
    await model.release();
  }
});

test('CLI predict prints the gate in every line and names refusals', { skip: skipNoShared }, async () => {
  const lines: string[] = [];
  const errs: string[] = [];
  const io = { out: (s: string) => lines.push(s), err: (s: string) => errs.push(s) };
  const code = await main(['node', 'deep-covid', 'predict', '--run', run, '--cache', join(work, 'cli-cache'), join(DICOM, 'ts-explicit-vr-le-ct-16bit-signed-rescale.dcm'), join(DICOM, 'rsna-monochrome2-jpeg-baseline.dcm')], io);
  assert.equal(code, 0);
  const [ct, cr] = lines.map((l) => JSON.parse(l));
  assert.equal(ct.refused, true);
  assert.equal(ct.probability, undefined);
  assert.equal(ct.gate.verdict, 'refused');
  assert.equal(typeof cr.probability, 'number');
  assert.ok(['passed', 'warned'].includes(cr.gate.verdict));
  assert.match(errs.join('\n'), /1 of 2 file\(s\) refused by the input gate/);
});

/** Runs `fn` while counting fs.readFile and fs.promises.readFile calls per path (the builtin's ESM bindings follow). */
async function countingReads<T>(fn: () => Promise<T>): Promise<{ value: T; reads: Map<string, number> }> {
  const reads = new Map<string, number>();
  const count = (path: unknown) => { if (typeof path === 'string') reads.set(path, (reads.get(path) ?? 0) + 1); };
  const orig = fs.promises.readFile;
  const origCallback = fs.readFile;
  (fs.promises as { readFile: unknown }).readFile = (path: unknown, ...rest: unknown[]) => {
    count(path);
    return (orig as (...a: unknown[]) => unknown)(path, ...rest);
  };
  (fs as { readFile: unknown }).readFile = (path: unknown, ...rest: unknown[]) => {
    count(path);
    return (origCallback as (...a: unknown[]) => unknown)(path, ...rest);
  };
  syncBuiltinESMExports();
  try {
    return { value: await fn(), reads };
  } finally {
    fs.promises.readFile = orig;
    (fs as { readFile: unknown }).readFile = origCallback;
    syncBuiltinESMExports();
  }
}

test('predict gates what the extraction read and decoded: the stand-alone gate\'s facts, each file read once', { skip: skipNoShared }, async () => {
  const pick = async (dir: string, n: number) => (await readdir(dir)).sort().slice(0, n).map((f) => join(dir, f));
  const files = [
    ...(await pick(join(DEV_SET, 'test', 'covid'), 5)), ...(await pick(join(DEV_SET, 'test', 'non'), 5)),
    ...(await pick(join(NOT_CXR, 'ct'), 4)), ...(await pick(join(NOT_CXR, 'lateral-xray'), 4)), ...(await pick(join(NOT_CXR, 'photo'), 4)),
    join(DICOM, 'ts-explicit-vr-le-ct-16bit-signed-rescale.dcm'), join(DICOM, 'rsna-monochrome2-jpeg-baseline.dcm'),
  ];
  const model = await DeepCovidModel.load(run);
  const dir = await mkdtemp(join(tmpdir(), 'dc-gate-once-'));
  try {
    const fresh = new FeatureCache(dir);
    const { value: first, reads } = await countingReads(() => model.predict(files, { cache: fresh }));
    for (const f of files) assert.equal(reads.get(f), 1, `${f} read ${reads.get(f) ?? 0} times`);
    // the second time every feature comes from the cache: the gate still sees each file once
    const { value: again, reads: reads2 } = await countingReads(() => model.predict(files, { cache: fresh }));
    for (const f of files) assert.equal(reads2.get(f), 1, `${f} read ${reads2.get(f) ?? 0} times from the cache path`);
    for (let i = 0; i < files.length; i++) {
      // the reference: the gate on its own, reading and decoding the file itself
      const ref = await inspectImage(await probeImage(files[i]));
      for (const p of [first[i], again[i]]) {
        assert.ok(!('error' in p), `${files[i]}: ${'error' in p ? p.error : ''}`);
        assert.deepEqual(p.gate.image, ref.image.facts, files[i]);
        assert.deepEqual(p.gate.header, ref.header?.facts ?? null, files[i]);
      }
      const [a, b] = [again[i], first[i]];
      assert.ok(!('error' in a) && !('error' in b));
      assert.deepEqual(a.gate, b.gate, files[i]);
    }
    assert.ok(first.some((p) => isRefused(p)) && first.some((p) => isPredicted(p)), 'both verdicts occur');
  } finally {
    await model.release();
    await rm(dir, { recursive: true, force: true });
  }
});

test('gateFiles reads each file once and gives the verdicts predict gives', { skip: skipNoShared }, async () => {
  const pick = async (dir: string, n: number) => (await readdir(dir)).sort().slice(0, n).map((f) => join(dir, f));
  const files = [
    ...(await pick(join(DEV_SET, 'test', 'non'), 3)), ...(await pick(join(NOT_CXR, 'ct'), 2)), ...(await pick(join(NOT_CXR, 'photo'), 2)),
    join(DICOM, 'ts-explicit-vr-le-ct-16bit-signed-rescale.dcm'), join(DICOM, 'rsna-monochrome2-jpeg-baseline.dcm'),
  ];
  const model = await DeepCovidModel.load(run);
  const backbone = await Backbone.load('squeezenet1_1', { path: join(MODELS_DIR, 'squeezenet1_1.onnx'), threads: 2 });
  const dir = await mkdtemp(join(tmpdir(), 'dc-gatefiles-once-'));
  try {
    assert.ok(model.gate, 'the run has a learned gate');
    const fresh = new FeatureCache(dir);
    for (const pass of ['fresh cache', 'from the cache']) {
      const { value: gated, reads } = await countingReads(() => gateFiles(backbone, model.gate, files, { cache: fresh }));
      for (const f of files) assert.equal(reads.get(f), 1, `${pass}: ${f} read ${reads.get(f) ?? 0} times`);
      const predicted = await model.predict(files, { cache: fresh });
      for (let i = 0; i < files.length; i++) {
        const [g, p] = [gated[i], predicted[i]];
        assert.ok(!('error' in g) && !('error' in p), files[i]);
        assert.equal(g.gate.verdict, p.gate.verdict, `${pass}: ${files[i]}`);
        assert.deepEqual(g.gate.reasons, p.gate.reasons, `${pass}: ${files[i]}`);
      }
    }
  } finally {
    await backbone.release();
    await model.release();
    await rm(dir, { recursive: true, force: true });
  }
});
