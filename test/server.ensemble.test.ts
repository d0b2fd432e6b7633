// `deep-covid serve --run ENSEMBLE_DIR`: an ensemble folder (made by `deep-covid ensemble`) is served
// like a run: /api/predict gives the ensemble's probability and call with the members' averaged CAM
// (what explain shows), /api/model the ensemble's card (members, combination, threshold).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixedScaleMax } from '../src/explain/index.js';
import { FeatureCache } from '../src/features/cache.js';
import { loadModel } from '../src/model/index.js';
import { buildEnsemble, type EnsembleResult } from '../src/protocol/ensemble.js';
import { trainRun } from '../src/protocol/train-run.js';
import { serveRun } from '../src/cli/commands/serve.js';
import { buildServer, loadModelService, type ApiModelCard, type ApiPrediction, type Predictor } from '../src/server/index.js';
import { parseCsv } from '../src/util/csv.js';
import { makeTinyDataset } from './helpers/tiny-dataset.js';
import { skipNoShared as skip } from './helpers/shared.js';

let data: string;
let work: string;
let ens: EnsembleResult;
let model: Predictor;

before(async () => {
  if (skip) return;
  data = await makeTinyDataset({ train: [16, 20], test: [8, 8], perPatient: 2, manifest: true, seed: 4 });
  work = await mkdtemp(join(tmpdir(), 'dc-serve-ens-'));
  const cache = new FeatureCache(join(work, 'cache'));
  const base = { epochs: 8, augmentFactor: 2, seed: 5 };
  await trainRun({ data, out: join(work, 'squeeze'), config: { ...base, backbone: 'squeezenet1_1' }, cache });
  await trainRun({ data, out: join(work, 'mobile'), config: { ...base, backbone: 'mobilenet_v2' }, cache });
  ens = await buildEnsemble({ runs: [join(work, 'squeeze'), join(work, 'mobile')], out: join(work, 'ens') });
  model = await loadModelService(ens.dir);
});

after(async () => {
  await model?.close();
  if (data) await rm(data, { recursive: true, force: true });
  if (work) await rm(work, { recursive: true, force: true });
});

test('GET /api/model of an ensemble: its members, how they are combined, its threshold and test results', { skip, timeout: 600_000 }, async () => {
  const app = await buildServer({ model });
  try {
    const card = (await app.inject({ method: 'GET', url: '/api/model' })).json() as ApiModelCard;
    assert.equal(card.runId, ens.record.id);
    assert.equal(card.model.backbone, 'ensemble(squeezenet1_1+mobilenet_v2)');
    assert.deepEqual(card.ensemble?.members.map((m) => m.backbone), ['squeezenet1_1', 'mobilenet_v2']);
    assert.deepEqual(card.ensemble?.members.map((m) => m.runId), ens.record.members.map((m) => m.runId));
    assert.equal(card.ensemble?.combine, ens.record.combine);
    assert.equal(card.threshold.value, ens.record.threshold.value);
    assert.match(card.threshold.howChosen, /averaged: validation AUC/);
    assert.equal(card.test?.auc?.value, ens.metrics?.auc?.value);
    assert.match(card.reproduce, /^deep-covid ensemble --runs /);
    assert.ok(card.limits.maxUploadBytes > 0);
    const health = (await app.inject({ method: 'GET', url: '/healthz' })).json() as { runId: string };
    assert.equal(health.runId, ens.record.id);
  } finally {
    await app.close();
  }
});

test('POST /api/predict with an ensemble: the stored ensemble probability, its threshold, and the members\' averaged CAM', { skip, timeout: 600_000 }, async () => {
  const stored = parseCsv(await readFile(join(ens.dir, 'predictions.csv'), 'utf8'));
  const file = stored[0].file;
  const bytes = await readFile(join(data, file));
  const app = await buildServer({ model });
  const local = await loadModel(ens.dir);
  try {
    const res = await app.inject({ method: 'POST', url: '/api/predict?name=x.png', payload: bytes, headers: { 'content-type': 'image/png' } });
    assert.equal(res.statusCode, 200, res.body);
    const r = res.json() as ApiPrediction;
    assert.ok(r.probability !== null);
    assert.ok(Math.abs(r.probability - Number(stored[0].probability)) < 1e-5, `${r.probability} vs ${stored[0].probability}`);
    assert.equal(r.threshold, ens.record.threshold.value);
    assert.equal(r.label, r.probability >= ens.record.threshold.value ? 'covid' : 'non');
    assert.equal(r.model.backbone, 'ensemble(squeezenet1_1+mobilenet_v2)');
    // the CAM is the mean of the members' maps, as `explain` computes it
    const cam = await local.cam({ bytes, name: 'x.png' });
    let peak = 0;
    for (const v of cam.map.data) peak = Math.max(peak, v);
    assert.ok(r.heatmaps.cam);
    assert.ok(Math.abs(r.heatmaps.cam.max - peak) < 1e-5, `${r.heatmaps.cam.max} vs ${peak}`);
    // its fixed colour scale spans the members' mean number of feature-map cells (SqueezeNet 13 x 13, MobileNetV2 7 x 7)
    assert.equal(r.heatmaps.cam.fixed.max, fixedScaleMax('cam', (13 * 13 + 7 * 7) / 2));
    const occ = await app.inject({ method: 'POST', url: '/api/predict?occlusion=1', payload: bytes, headers: { 'content-type': 'image/png' } });
    assert.equal(occ.statusCode, 200, occ.body);
    assert.ok((occ.json() as ApiPrediction).heatmaps.occlusion);
  } finally {
    await local.release();
    await app.close();
  }
});

test('deep-covid serve --run ENSEMBLE_DIR says it serves the ensemble', { skip, timeout: 600_000 }, async () => {
  const out: string[] = [];
  const io = { out: (s: string) => out.push(s), err: () => {} };
  const stop = new AbortController();
  let url = '';
  const serving = serveRun({ run: ens.dir, port: '0', host: '127.0.0.1', maxUploadMb: '5', concurrency: '1', queue: '2' }, io, stop.signal, (u) => { url = u; });
  try {
    while (!url) await new Promise((r) => setTimeout(r, 50));
    assert.match(out.join('\n'), new RegExp(`serving ensemble ${ens.record.id} \\(ensemble\\(squeezenet1_1\\+mobilenet_v2\\), `));
    const card = (await (await fetch(`${url}api/model`)).json()) as ApiModelCard;
    assert.equal(card.ensemble?.members.length, 2);
  } finally {
    stop.abort();
    await serving;
  }
});
