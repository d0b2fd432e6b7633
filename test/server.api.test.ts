// HTTP API through fastify's inject: predictions from PNG and DICOM (checked against the CLI's
// predict path), heatmaps, every bad-input fixture, each error class, the busy queue, security
// headers, the model card and the OpenAPI document. A tiny run is trained once for all tests.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { FeatureCache } from '../src/features/cache.js';
import { loadGreyImage } from '../src/input/load-image.js';
import { IMAGENET_224 } from '../src/preprocess/config.js';
import { cropDecoded } from '../src/preprocess/to-tensor.js';
import { predictFiles } from '../src/tasks/predict.js';
import { readRunDir, type LoadedRun } from '../src/protocol/run-folder.js';
import { buildModelCard } from '../src/report/model-card.js';
import { trainRun } from '../src/protocol/train-run.js';
import { wilsonInterval } from '../src/evaluate/index.js';
import {
  buildServer, CONTENT_SECURITY_POLICY, InferenceQueue, BusyError, loadModelService, safeName,
  type ApiError, type ApiModelCard, type ApiPrediction, type Predictor,
} from '../src/server/index.js';
import { predictiveValuesAt } from '../src/evaluate/predictive-values.js';
import { makeDevSubset } from './helpers/tiny-dataset.js';
import { BAD_INPUTS, DEV_SET, SHARED, skipNoShared } from './helpers/shared.js';

const DICOM = join(SHARED, 'data', 'dicom', 'rsna-monochrome2-jpeg-baseline.dcm');
const DEV_PNG = join(DEV_SET, 'test', 'covid', 'figure1-007e4ffdfe.png');
const skip = skipNoShared;

let work: string;
let runDir: string;
let run: LoadedRun;
let model: Predictor;
let app: FastifyInstance;
let cache: FeatureCache;

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'dc-server-'));
  // real chest X-rays: the run's input gate learns from its training images what a chest film looks like
  const data = await makeDevSubset(DEV_SET, 30, 6);
  runDir = join(work, 'run');
  cache = new FeatureCache(join(work, 'cache'));
  await trainRun({ data, out: runDir, config: { backbone: 'squeezenet1_1', epochs: 6, augmentFactor: 2, seed: 5 }, cache });
  await rm(data, { recursive: true, force: true });
  run = await readRunDir(runDir);
  model = await loadModelService(runDir);
  app = await buildServer({ model });
});

after(async () => {
  await app?.close();
  await model?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A multipart/form-data body with one file field. */
function multipart(bytes: Buffer, filename: string, field = 'file'): { payload: Buffer; headers: Record<string, string> } {
  const boundary = '----dc-test-boundary-7d1';
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

async function post(server: FastifyInstance, bytes: Buffer, filename: string, query = '') {
  return server.inject({ method: 'POST', url: `/api/predict${query}`, ...multipart(bytes, filename) });
}

function assertError(res: { statusCode: number; json: () => unknown }, status: number, code: string | RegExp, message?: RegExp) {
  assert.equal(res.statusCode, status, JSON.stringify(res.json()));
  const body = res.json() as ApiError;
  if (typeof code === 'string') assert.equal(body.error.code, code);
  else assert.match(body.error.code, code);
  assert.ok(body.error.message.length > 20, 'a message a user can act on');
  if (message) assert.match(body.error.message, message);
}

test('a dev-set PNG (multipart) and a DICOM (raw body) give the same P(COVID) as the predict command, with the run\'s threshold and test figures', { skip }, async () => {
  const [viaCli] = await predictFiles({ run: runDir, files: [DEV_PNG, DICOM], cache }).then((p) => [p]);
  assert.ok('probability' in viaCli[0] && 'probability' in viaCli[1]);
  const png = await post(app, await readFile(DEV_PNG), 'figure1.png');
  assert.equal(png.statusCode, 200, png.body);
  const a = png.json() as ApiPrediction;
  const dcm = await app.inject({ method: 'POST', url: '/api/predict?name=chest.dcm', headers: { 'content-type': 'application/dicom' }, payload: await readFile(DICOM) });
  assert.equal(dcm.statusCode, 200, dcm.body);
  const b = dcm.json() as ApiPrediction;
  for (const [api, cli] of [[a, viaCli[0]], [b, viaCli[1]]] as const) {
    if (!('probability' in cli)) continue;
    assert.ok(api.probability !== null, `${api.file} was refused: ${JSON.stringify(api.gate.reasons)}`);
    assert.ok(Math.abs(api.probability - cli.probability) < 1e-6, `${api.probability} vs ${cli.probability}`);
    assert.equal(api.threshold, run.record.threshold.value);
    assert.equal(api.label, api.probability >= api.threshold ? 'covid' : 'non');
    assert.equal(api.gate.verdict, cli.gate.verdict, 'the API and the CLI give the same gate verdict');
  }
  assert.equal(a.file, 'figure1.png');
  assert.equal(b.file, 'chest.dcm');
  assert.equal(b.image.format, 'dicom');
  assert.equal(a.image.format, 'png');
  // operating point = metrics.json's, with Wilson intervals computed independently here
  const op = run.metrics!.operatingPoint;
  assert.deepEqual(a.operatingPoint!.confusion, op.confusion);
  const sens = a.operatingPoint!.sensitivity;
  assert.equal(sens.k, op.confusion.tp);
  assert.equal(sens.n, op.confusion.tp + op.confusion.fn);
  assert.deepEqual(sens.ci95, wilsonInterval(op.confusion.tp, op.confusion.tp + op.confusion.fn));
  assert.equal(a.operatingPoint!.specificity.n, op.confusion.tn + op.confusion.fp);
  assert.equal(a.model.runId, run.record.id);
  assert.equal(a.model.backbone, 'squeezenet1_1');
  assert.equal(a.model.weights, 'imagenet');
  assert.equal(a.model.warning, null);
  assert.match(a.notice, /not a diagnostic device/);
  for (const k of ['decodeMs', 'preprocessMs', 'inferenceMs', 'camMs', 'encodeMs', 'totalMs', 'queuedMs'] as const) assert.ok(a.timings[k] >= 0);
  assert.equal(a.timings.occlusionMs, null);
  assert.equal(a.heatmaps.occlusion, null);
});

test('the response carries the grey crop the model saw and a CAM as PNGs of the crop size', { skip }, async () => {
  const res = (await post(app, await readFile(DEV_PNG), 'x.png')).json() as ApiPrediction;
  const cropPng = Buffer.from(res.crop.png, 'base64');
  const meta = await sharp(cropPng).metadata();
  assert.deepEqual([meta.width, meta.height, meta.channels], [224, 224, 1]);
  const crop = await sharp(cropPng).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  // the crop extraction makes (for a dev PNG: the JavaScript resampler), so the page shows what the model saw
  const bytes = await readFile(DEV_PNG);
  const expected = await cropDecoded(await loadGreyImage(DEV_PNG), bytes, IMAGENET_224);
  assert.ok(Buffer.from(expected).equals(crop.data), 'crop PNG = the preprocessed grey crop');
  const cam = res.heatmaps.cam!;
  assert.equal(cam.method, 'cam');
  const layer = await sharp(Buffer.from(cam.heatmapPng, 'base64')).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([layer.info.width, layer.info.height, layer.info.channels], [224, 224, 4]);
  const overlay = await sharp(Buffer.from(cam.overlayPng, 'base64')).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([overlay.info.width, overlay.info.height, overlay.info.channels], [224, 224, 3]);
  // overlay = (1 − a·s) grey + a·s colour with s the scaled heat (the layer's alpha): where the layer is
  // transparent the film keeps its own grey (no tint); where it is opaque the full opacity applies
  const a = cam.overlayAlpha;
  let clear = 0;
  let full = 0;
  for (let i = 0; i < 224 * 224; i++) {
    const s = layer.data[4 * i + 3];
    if (s === 0) {
      assert.deepEqual([...overlay.data.subarray(3 * i, 3 * i + 3)], [crop.data[i], crop.data[i], crop.data[i]]);
      clear++;
    } else if (s === 255) {
      const g = (1 - a) * crop.data[i];
      assert.equal(overlay.data[3 * i], Math.round(g + a * layer.data[4 * i]));
      full++;
    }
  }
  assert.ok(full > 0, 'the map reaches full colour at its maximum');
  assert.ok(clear > 0, 'somewhere the map has nothing to show');
  // the fixed-scale layer: 0..fixed.max in the map's unit, the same for every image
  assert.equal(cam.unit, 'logit');
  assert.ok(cam.max > 0 && cam.fixed.max > 0);
  const fixed = await sharp(Buffer.from(cam.fixed.heatmapPng, 'base64')).raw().toBuffer({ resolveWithObject: true });
  let maxAlpha = 0;
  for (let i = 3; i < fixed.data.length; i += 4) maxAlpha = Math.max(maxAlpha, fixed.data[i]);
  assert.equal(maxAlpha, Math.min(255, Math.round((255 * cam.max) / cam.fixed.max)), 'fixed layer peaks at max / fixed.max');
  // the full image with the crop's place in it: a square image's crop covers all of it
  const full2 = res.fullImage;
  const src = await sharp(DEV_PNG).metadata();
  assert.ok(Math.max(full2.width, full2.height) <= 768);
  assert.ok(Math.abs(full2.width / full2.height - src.width! / src.height!) < 0.02);
  const fm = await sharp(Buffer.from(full2.jpeg, 'base64')).metadata();
  assert.deepEqual([fm.format, fm.width, fm.height], ['jpeg', full2.width, full2.height]);
  const shorter = Math.min(src.width!, src.height!);
  assert.ok(Math.abs(full2.cropBox.width - shorter / src.width!) < 0.01 && Math.abs(full2.cropBox.height - shorter / src.height!) < 0.01, JSON.stringify([full2.cropBox, src.width, src.height]));
  assert.ok(Math.abs(full2.cropBox.left + full2.cropBox.width / 2 - 0.5) < 0.01 && Math.abs(full2.cropBox.top + full2.cropBox.height / 2 - 0.5) < 0.01, 'centre crop');
});

test('?occlusion=1 adds an occlusion map; a bad flag is a 400', { skip }, async () => {
  const res = await post(app, await readFile(DEV_PNG), 'x.png', '?occlusion=1');
  assert.equal(res.statusCode, 200);
  const body = res.json() as ApiPrediction;
  assert.equal(body.heatmaps.occlusion!.method, 'occlusion');
  assert.ok(body.timings.occlusionMs! > 0);
  const img = await sharp(Buffer.from(body.heatmaps.occlusion!.overlayPng, 'base64')).metadata();
  assert.deepEqual([img.width, img.height], [224, 224]);
  assertError(await post(app, await readFile(DEV_PNG), 'x.png', '?occlusion=maybe'), 400, 'bad-request', /occlusion/);
});

test('every bad-inputs fixture: reject-* get the right error status, valid-* are predicted', { skip }, async () => {
  const expected: Record<string, [number, string]> = {
    'reject-bomb-30000x30000.png': [413, 'too-many-pixels'],
    'reject-empty.png': [422, 'empty'],
    'reject-text-not-image.png': [415, 'not-an-image'],
    'reject-truncated.jpg': [422, 'truncated'],
    'reject-truncated.png': [422, 'truncated'],
  };
  const files = (await readdir(BAD_INPUTS)).filter((f) => /^(reject|valid)-/.test(f)).sort();
  assert.ok(files.length >= 8);
  for (const f of files) {
    const res = await post(app, await readFile(join(BAD_INPUTS, f)), f);
    if (f.startsWith('valid-')) {
      assert.equal(res.statusCode, 200, `${f}: ${res.body}`);
      // answered: a probability, or a refusal by the gate with its reasons (never a bare number for a refused image)
      const body = res.json() as ApiPrediction;
      assert.ok(body.probability === null ? body.gate.verdict === 'refused' && body.gate.reasons.length > 0 : body.probability >= 0 && body.gate.verdict !== 'refused', `${f}: ${res.body.slice(0, 300)}`);
    } else {
      assert.ok(expected[f], `no expectation for ${f}`);
      assertError(res, expected[f][0], expected[f][1], new RegExp(f.replace(/\./g, '\\.')));
    }
  }
});

test('error classes: unsupported DICOM 415, pixels over the limit 413, bytes over the limit 413, corrupt 422, no file 400, unknown route 404', { skip }, async () => {
  assertError(await post(app, await readFile(join(SHARED, 'data', 'dicom', 'bad-color-rgb.dcm')), 'rgb.dcm'), 415, 'unsupported-format');
  const small = await buildServer({ model, maxUploadBytes: 20_000, maxPixels: 10_000 });
  try {
    // the dev PNG is ~1000 x 1000 pixels: over 10,000 pixels, refused before decoding
    const big = await readFile(DEV_PNG);
    assertError(await small.inject({ method: 'POST', url: '/api/predict', headers: { 'content-type': 'application/octet-stream' }, payload: big }), 413, 'upload-too-large', /limit of 20 KiB/);
    assertError(await post(small, big, 'big.png'), 413, 'upload-too-large');
    const tiny = await sharp(Buffer.alloc(200 * 200, 128), { raw: { width: 200, height: 200, channels: 1 } }).png().toBuffer();
    assertError(await post(small, tiny, 'tiny.png'), 413, 'too-many-pixels', /tiny\.png: .*pixel limit/);
  } finally {
    await small.close();
  }
  // a PNG whose compressed data is garbage: decodable header, undecodable pixels
  const good = await sharp(Buffer.alloc(64 * 64, 90), { raw: { width: 64, height: 64, channels: 1 } }).png().toBuffer();
  const bad = Buffer.from(good);
  const idat = bad.indexOf('IDAT');
  for (let i = idat + 6; i < idat + 30; i++) bad[i] ^= 0x5a;
  assertError(await post(app, bad, 'corrupt.png'), 422, /^(corrupt|truncated)$/);
  const boundary = 'b0undary';
  const noFile = await app.inject({
    method: 'POST', url: '/api/predict', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: `--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--${boundary}--\r\n`,
  });
  assertError(noFile, 400, 'no-file', /field named "file"/);
  assertError(await app.inject({ method: 'POST', url: '/api/predict', payload: '' , headers: { 'content-type': 'application/octet-stream' } }), 422, 'empty');
  assertError(await app.inject({ method: 'GET', url: '/etc/passwd' }), 404, 'not-found');
  assertError(await app.inject({ method: 'GET', url: '/../package.json' }), 404, 'not-found');
});

test('a full queue answers 503 with Retry-After at once, and recovers when the held request ends', { skip }, async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let entered!: () => void;
  const inPredict = new Promise<void>((r) => { entered = r; });
  const held: Predictor = {
    runId: model.runId, card: model.card, modelRef: model.modelRef, operatingPoint: model.operatingPoint, close: async () => {},
    predict: async (req) => { entered(); await gate; return model.predict(req); },
  };
  const busy = await buildServer({ model: held, concurrency: 1, maxQueued: 0 });
  try {
    const png = await readFile(DEV_PNG);
    const first = post(busy, png, 'first.png');
    await inPredict;
    const t0 = performance.now();
    const second = await post(busy, png, 'second.png');
    assert.ok(performance.now() - t0 < 2000, 'refused at once, not queued');
    assertError(second, 503, 'busy', /busy/);
    assert.match(String(second.headers['retry-after']), /^[1-9]\d*$/);
    const health = (await busy.inject({ method: 'GET', url: '/healthz' })).json() as { running: number; waiting: number };
    assert.deepEqual([health.running, health.waiting], [1, 0]);
    release();
    assert.equal((await first).statusCode, 200);
    assert.equal((await post(busy, png, 'third.png')).statusCode, 200);
  } finally {
    release();
    await busy.close();
  }
});

test('InferenceQueue: runs at most `concurrency` jobs, queues up to `maxQueued`, refuses the rest', async () => {
  const q = new InferenceQueue({ concurrency: 2, maxQueued: 1 });
  let running = 0;
  let peak = 0;
  const gates: (() => void)[] = [];
  const job = () => q.run(async () => {
    running++;
    peak = Math.max(peak, running);
    await new Promise<void>((r) => gates.push(r));
    running--;
    return 'done';
  });
  const jobs = [job(), job(), job()];
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([q.running, q.waiting, q.full], [2, 1, true]);
  await assert.rejects(job(), (e: unknown) => e instanceof BusyError && e.retryAfterSeconds >= 1);
  while (gates.length || q.running) {
    gates.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(await Promise.all(jobs), ['done', 'done', 'done']);
  assert.equal(peak, 2);
  assert.deepEqual([q.running, q.waiting, q.full], [0, 0, false]);
  assert.throws(() => new InferenceQueue({ concurrency: 0, maxQueued: 1 }), RangeError);
});

test('security headers on pages, API answers and errors', { skip }, async () => {
  const web = join(work, 'web');
  await mkdir(web, { recursive: true });
  await writeFile(join(web, 'index.html'), '<!doctype html><title>t</title>');
  const withWeb = await buildServer({ model, webRoot: web });
  try {
    const responses = [
      await withWeb.inject({ method: 'GET', url: '/' }),
      await app.inject({ method: 'GET', url: '/api/model' }),
      await app.inject({ method: 'GET', url: '/nope' }),
      await post(app, Buffer.from('not an image'), 'n.png'),
    ];
    assert.match(String(responses[0].headers['content-type']), /^text\/html/);
    for (const r of responses) {
      assert.equal(r.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.equal(r.headers['referrer-policy'], 'no-referrer');
    }
    const csp = CONTENT_SECURITY_POLICY;
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /img-src 'self' data: blob:/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(responses[1].headers['cache-control'], 'no-store');
    // without a built page, / explains how to build it
    const bare = await app.inject({ method: 'GET', url: '/' });
    assert.equal(bare.statusCode, 503);
    assert.match(bare.body, /npm run build/);
  } finally {
    await withWeb.close();
  }
});

test('GET /api/model is the run\'s model card; /healthz answers; /api/openapi.json documents every route and error', { skip }, async () => {
  const card = (await app.inject({ method: 'GET', url: '/api/model' })).json() as ApiModelCard;
  const r = run.record;
  assert.equal(card.runId, r.id);
  assert.equal(card.backbone.name, r.backbone.name);
  assert.equal(card.backbone.sha256, r.backbone.sha256);
  assert.equal(card.model.weights, r.backbone.weights);
  assert.deepEqual(card.training.counts.train, r.data.counts.train);
  assert.deepEqual(card.training.counts.test, r.data.counts.test);
  assert.equal(card.threshold.value, r.threshold.value);
  assert.match(card.threshold.howChosen, /validation/);
  assert.equal(card.test!.auc!.value, run.metrics!.auc!.value);
  assert.deepEqual(card.test!.auc!.ci95, [run.metrics!.auc!.delong!.lower, run.metrics!.auc!.delong!.upper]);
  assert.deepEqual(card.test!.operatingPoint.confusion, run.metrics!.operatingPoint.confusion);
  // what P(COVID) is calibrated to, and PPV/NPV with intervals at other prevalences
  const m = run.metrics!;
  assert.equal(card.test!.prevalence, m.positives / m.n);
  assert.match(card.test!.calibrationNote, /calibrated to the test set's class mix/);
  const at1 = card.test!.predictiveValues!.table.find((x) => x.prevalence === 0.01)!;
  const want = predictiveValuesAt(m.operatingPoint.confusion, 0.01);
  assert.deepEqual([at1.ppv, at1.npv], [want.ppv && { estimate: want.ppv.estimate, ci95: want.ppv.interval }, want.npv && { estimate: want.npv.estimate, ci95: want.npv.interval }]);
  assert.match(card.intendedUse, /Research software, not a diagnostic device/);
  assert.match(card.privacy, /nothing is written to disk/);
  assert.equal(card.limits.maxUploadBytes, 50 * 1024 * 1024);
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(health.statusCode, 200);
  assert.equal(health.json().status, 'ok');
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual(Object.keys(doc.paths).sort(), ['/api/model', '/api/openapi.json', '/api/predict', '/healthz']);
  assert.deepEqual(Object.keys(doc.paths['/api/predict'].post.responses).sort(), ['200', '400', '403', '413', '415', '422', '503']);
});

test('a run with synthetic weights says so in every answer', { skip }, async () => {
  const synthetic: Predictor = { ...model, modelRef: { ...model.modelRef, weights: 'synthetic', warning: 'SYNTHETIC WEIGHTS: x' }, predict: model.predict.bind(model) };
  // the model card is built from the run record: patch a copy of it
  const rec = structuredClone(run.record);
  rec.backbone.weights = 'synthetic';
  const s = await buildServer({ model: { ...synthetic, card: buildModelCard({ record: rec, metrics: run.metrics, shortcutCheck: model.card.shortcutCheck }) } });
  try {
    const card = (await s.inject({ method: 'GET', url: '/api/model' })).json() as ApiModelCard;
    assert.equal(card.model.weights, 'synthetic');
    assert.match(card.model.warning!, /SYNTHETIC WEIGHTS/);
    assert.match(card.limitations[0], /SYNTHETIC WEIGHTS/);
  } finally {
    await s.close();
  }
});

test('client file names are display names only', () => {
  assert.equal(safeName('../../etc/passwd'), 'passwd');
  assert.equal(safeName('C:\\x\\scan.dcm'), 'scan.dcm');
  assert.equal(safeName('a\u0000b\nc.png'), 'abc.png');
  assert.equal(safeName(''), 'upload');
  assert.equal(safeName(undefined), 'upload');
  assert.equal(safeName('x'.repeat(500)).length, 120);
});
