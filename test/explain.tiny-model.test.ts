// Occlusion maps, CAMs and the shortcut check on a tiny ONNX model built here whose output depends
// only on one 32 x 32 block of the image, so the right answer is known in advance.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { Backbone } from '../src/backbone/backbone.js';
import { explainFiles } from '../src/tasks/explain-files.js';
import { DeepCovidModel } from '../src/model/index.js';
import { runRecordFor } from './helpers/run-record.js';
import { occlusionMap } from '../src/explain/occlusion.js';
import { shortcutCheck } from '../src/tasks/shortcut-check.js';
import { headToJSON, predictProba, type Head } from '../src/head/index.js';
import { IMAGENET_224 } from '../src/preprocess/config.js';
import { greyToTensor } from '../src/preprocess/to-tensor.js';

const { onnx } = onnxProto;
const S = 224;
const CELL = 32;
const CH = 4;
const K = 100; // COVID weight of channel 0
const B = -2; // COVID bias: P = sigmoid(-2) when the block is dark

/** Block (in 32-px cells) the tiny model looks at. */
interface Block { row: number; col: number }
const CENTRE: Block = { row: 3, col: 4 }; // crop pixels x 128..160, y 96..128: inside the right-lung ellipse
const CORNER: Block = { row: 0, col: 0 }; // x 0..32, y 0..32: outside the lung region

function floatTensor(name: string, dims: number[], data: Float32Array) {
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
}

/**
 * input * mask(block) → Conv 32x32 stride 32 (ch0 = +mean, ch1 = −mean of the block, ch2/3 = 0) →
 * ReLU → [N,4,7,7] map → GlobalAveragePool → Flatten → Gemm to 1000.
 */
function tinyModel(block: Block): Uint8Array {
  const mask = new Float32Array(S * S);
  for (let y = block.row * CELL; y < (block.row + 1) * CELL; y++) for (let x = block.col * CELL; x < (block.col + 1) * CELL; x++) mask[y * S + x] = 1;
  const w = new Float32Array(CH * 3 * CELL * CELL);
  const per = 3 * CELL * CELL;
  for (let i = 0; i < per; i++) {
    w[i] = 1 / per;
    w[per + i] = -1 / per;
  }
  const attr = (name: string, ints: number[]) => onnx.AttributeProto.create({ name, ints, type: onnx.AttributeProto.AttributeType.INTS });
  const graph = onnx.GraphProto.create({
    name: 'tiny',
    input: [onnx.ValueInfoProto.create({ name: 'input', type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: 3 }, { dimValue: S }, { dimValue: S }] } } } })],
    output: [onnx.ValueInfoProto.create({ name: 'logits', type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } })],
    initializer: [
      floatTensor('mask', [1, 1, S, S], mask),
      floatTensor('W', [CH, 3, CELL, CELL], w),
      floatTensor('Bc', [CH], new Float32Array(CH)),
      floatTensor('Wfc', [1000, CH], new Float32Array(1000 * CH).fill(0.01)),
      floatTensor('Bfc', [1000], new Float32Array(1000)),
    ],
    node: [
      onnx.NodeProto.create({ opType: 'Mul', input: ['input', 'mask'], output: ['masked'] }),
      onnx.NodeProto.create({ opType: 'Conv', input: ['masked', 'W', 'Bc'], output: ['conv'], attribute: [attr('kernel_shape', [CELL, CELL]), attr('strides', [CELL, CELL])] }),
      onnx.NodeProto.create({ opType: 'Relu', input: ['conv'], output: ['relu'] }),
      onnx.NodeProto.create({ opType: 'GlobalAveragePool', input: ['relu'], output: ['gap'] }),
      onnx.NodeProto.create({ opType: 'Flatten', input: ['gap'], output: ['flat'] }),
      onnx.NodeProto.create({ opType: 'Gemm', input: ['flat', 'Wfc', 'Bfc'], output: ['logits'], attribute: [onnx.AttributeProto.create({ name: 'transB', i: 1, type: onnx.AttributeProto.AttributeType.INT })] }),
    ],
  });
  const model = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], producerName: 'deep-covid-test', graph });
  return onnx.ModelProto.encode(model).finish();
}

/** Linear head: COVID logit = K * pooled[0] + B, non-COVID logit = 0. */
function linearHead(): Head {
  const weight = new Float64Array(2 * CH);
  weight[CH] = K;
  return { kind: 'linear', inChannels: CH, dropout: 0, weight, bias: Float64Array.from([0, B]) };
}

/** SqueezeNet-style conv head on the 4 x 7 x 7 map: z1 = K * map0, z0 = 0. */
function convHead(): Head {
  const weight = new Float64Array(2 * CH);
  weight[CH] = K;
  return { kind: 'squeezenet-conv', inChannels: CH, spatial: [7, 7], dropout: 0, weight, bias: new Float64Array(2) };
}

/** A 224 x 224 grey image: background `bg`, the block at `blockGrey`. */
function image(block: Block, blockGrey: number, bg = 90): Uint8Array {
  const px = new Uint8Array(S * S).fill(bg);
  for (let y = block.row * CELL; y < (block.row + 1) * CELL; y++) px.fill(blockGrey, y * S + block.col * CELL, y * S + (block.col + 1) * CELL);
  return px;
}

function tensorOf(px: Uint8Array): Float32Array {
  const t = new Float32Array(3 * S * S);
  greyToTensor(px, IMAGENET_224, t);
  return t;
}

/** Mean of the block over the 3 normalised channels, computed independently of the model. */
function blockMean(t: Float32Array, block: Block): number {
  let s = 0;
  for (let c = 0; c < 3; c++) for (let y = block.row * CELL; y < (block.row + 1) * CELL; y++) for (let x = block.col * CELL; x < (block.col + 1) * CELL; x++) s += t[c * S * S + y * S + x];
  return s / (3 * CELL * CELL);
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

let dir: string;
let centrePath: string;
let cornerPath: string;
let backbone: Backbone;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'explain-tiny-'));
  centrePath = join(dir, 'tiny-centre.onnx');
  cornerPath = join(dir, 'tiny-corner.onnx');
  await writeFile(centrePath, tinyModel(CENTRE));
  await writeFile(cornerPath, tinyModel(CORNER));
  backbone = await Backbone.load('tiny-centre', { path: centrePath, threads: 1 });
});

after(async () => {
  await backbone?.release();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const inBlock = (x: number, y: number, b: Block, grow = 0) =>
  x >= b.col * CELL - grow && x < (b.col + 1) * CELL + grow && y >= b.row * CELL - grow && y < (b.row + 1) * CELL + grow;

describe('occlusion sensitivity on the tiny model', () => {
  test('the map peaks in the block, is exactly 0 away from it, and matches the hand-computed drop', async () => {
    assert.equal(backbone.manifest.head.kind, 'linear');
    const model = await DeepCovidModel.fromParts(backbone, linearHead(), { releaseBackbone: false });
    const t = tensorOf(image(CENTRE, 230));
    const m = blockMean(t, CENTRE);
    const p0 = sigmoid((K * Math.max(0, m)) / 49 + B);
    const res = await occlusionMap(model, t, { patch: 32, stride: 16, batchSize: 7 });
    assert.ok(Math.abs(res.probability - p0) < 1e-4, `P(original) ${res.probability} vs ${p0}`);
    assert.deepEqual(res.positionsX, [0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192]);
    assert.equal(res.evaluations, 13 * 13 + 1);
    // the patch exactly on the block replaces it by the image mean (dark): channel 0 is ReLU'd to 0
    const j = res.positionsY.indexOf(96) * res.grid.width + res.positionsX.indexOf(128);
    assert.ok(Math.abs(res.grid.data[j] - (p0 - sigmoid(B))) < 1e-4);
    const { data, width } = res.map;
    let best = 0;
    for (let i = 1; i < data.length; i++) if (data[i] > data[best]) best = i;
    assert.ok(inBlock(best % width, Math.floor(best / width), CENTRE), `argmax at ${best % width},${Math.floor(best / width)}`);
    let near = 0;
    let total = 0;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const v = data[y * S + x];
        total += Math.abs(v);
        // only patches overlapping the block change the output, so pixels >= 31 px away are untouched
        if (inBlock(x, y, CENTRE, 31)) near += Math.abs(v);
        else assert.ok(Math.abs(v) < 1e-6, `value ${v} at ${x},${y}`);
      }
    }
    assert.ok(near / total > 0.999);
  });

  test('a region of interest limits the work and leaves the rest 0', async () => {
    const model = await DeepCovidModel.fromParts(backbone, linearHead(), { releaseBackbone: false });
    const res = await occlusionMap(model, tensorOf(image(CENTRE, 230)), { patch: 32, stride: 16, roi: { x: 112, y: 80, width: 64, height: 64 } });
    assert.ok(res.evaluations < 40, `${res.evaluations} evaluations`);
    assert.equal(res.map.data[0], 0);
    assert.ok(res.map.data[110 * S + 140] > 0.3);
  });

  test('a settable fill equal to the block content leaves the output unchanged', async () => {
    const model = await DeepCovidModel.fromParts(backbone, linearHead(), { releaseBackbone: false });
    const res = await occlusionMap(model, tensorOf(image(CENTRE, 230)), { patch: 32, stride: 32, fill: 230 });
    for (const v of res.grid.data) assert.ok(Math.abs(v) < 1e-5);
  });
});

describe('CAM on the tiny model', () => {
  test('linear head: the low-res map is K·ReLU(block mean) in the block cell and 0 elsewhere; probability matches the head', async () => {
    const head = linearHead();
    const model = await DeepCovidModel.fromParts(backbone, head, { releaseBackbone: false });
    const t = tensorOf(image(CENTRE, 230));
    const m = blockMean(t, CENTRE);
    const [res] = await model.camMaps(t, 1);
    assert.equal(res.lowres.width, 7);
    for (let i = 0; i < 49; i++) {
      const expected = i === CENTRE.row * 7 + CENTRE.col ? K * Math.max(0, m) : 0;
      assert.ok(Math.abs(res.lowres.data[i] - expected) < 1e-3 * Math.max(1, expected), `cell ${i}: ${res.lowres.data[i]} vs ${expected}`);
    }
    const pooled = (await backbone.run(t, 1, { pooled: true })).pooled!;
    assert.ok(Math.abs(res.probability - predictProba(head, pooled)[0]) < 1e-5);
    assert.equal(res.map.width, S);
    let best = 0;
    let inside = 0;
    let total = 0;
    for (let i = 0; i < S * S; i++) {
      if (res.map.data[i] > res.map.data[best]) best = i;
      total += Math.abs(res.map.data[i]);
      if (inBlock(i % S, Math.floor(i / S), CENTRE, 32)) inside += Math.abs(res.map.data[i]);
    }
    assert.ok(inBlock(best % S, Math.floor(best / S), CENTRE), `argmax ${best % S},${Math.floor(best / S)}`);
    // bilinear upsampling spreads a cell at most one cell further
    assert.ok(inside / total > 0.999);
  });

  test('conv head (SqueezeNet form): map is ReLU(z1) − ReLU(z0), its mean is the logit difference', async () => {
    const head = convHead();
    const model = await DeepCovidModel.fromParts(backbone, head, { releaseBackbone: false });
    const t = tensorOf(image(CENTRE, 230));
    const m = blockMean(t, CENTRE);
    const [res] = await model.camMaps(t, 1);
    const cell = CENTRE.row * 7 + CENTRE.col;
    assert.ok(Math.abs(res.lowres.data[cell] - K * m) < 1e-3 * K * m);
    assert.ok(Math.abs(res.logitDiff - (K * m) / 49) < 1e-3);
    const feats = (await backbone.run(t, 1, { map: true })).map!;
    assert.ok(Math.abs(res.probability - predictProba(head, feats)[0]) < 1e-6);
  });
});

/** A dataset folder test/covid|non of 224 x 224 PNGs: COVID blocks bright, non-COVID blocks dark. */
async function makeDataset(root: string, block: Block): Promise<void> {
  for (const [cls, greys] of [['covid', [200, 215, 230, 245]], ['non', [20, 35, 50, 65]]] as const) {
    await mkdir(join(root, 'test', cls), { recursive: true });
    for (const g of greys) {
      await sharp(Buffer.from(image(block, g)), { raw: { width: S, height: S, channels: 1 } }).png().toFile(join(root, 'test', cls, `img-${g}.png`));
    }
  }
  await writeFile(join(root, 'test', 'non', 'broken.png'), 'not a png');
}

/** A run folder for a model file and head. */
async function makeRun(runDir: string, modelPath: string, name: string, head: Head): Promise<void> {
  await mkdir(runDir, { recursive: true });
  await writeFile(join(runDir, 'run.json'), JSON.stringify(await runRecordFor(modelPath, name, head.kind)));
  await writeFile(join(runDir, 'head.json'), JSON.stringify(headToJSON(head)));
}

describe('shortcut check end to end on the tiny model', () => {
  test('a model reading the lung region is not flagged; one reading a corner is', async () => {
    const centreData = join(dir, 'data-centre');
    const cornerData = join(dir, 'data-corner');
    await makeDataset(centreData, CENTRE);
    await makeDataset(cornerData, CORNER);
    await makeRun(join(dir, 'run-centre'), centrePath, 'tiny-centre', linearHead());
    await makeRun(join(dir, 'run-corner'), cornerPath, 'tiny-corner', linearHead());
    const opts = { cache: null, runtime: { threads: 1 } };
    const lungs = await shortcutCheck({ ...opts, run: join(dir, 'run-centre'), data: centreData });
    const corner = await shortcutCheck({ ...opts, run: join(dir, 'run-corner'), data: cornerData });
    for (const r of [lungs, corner]) {
      assert.equal(r.n, 8);
      assert.equal(r.positives, 4);
      assert.equal(r.failures.length, 1);
      for (const a of [r.auc.full, r.auc.lungsHidden, r.auc.lungsOnly]) assert.ok(a.auc >= 0 && a.auc <= 1);
      assert.equal(r.auc.full.auc, 1);
      assert.match(r.region.note, /geometric/);
    }
    // block inside the lung ellipse: hiding the lungs removes all signal (ties → 0.5), keeping them keeps it
    assert.equal(lungs.auc.lungsHidden.auc, 0.5);
    assert.equal(lungs.auc.lungsOnly.auc, 1);
    assert.equal(lungs.flag.flagged, false);
    assert.ok(lungs.camOutside.all < 0.25, `centre CAM outside share ${lungs.camOutside.all}`);
    // block in the corner: nothing changes when the lungs are hidden
    assert.equal(corner.auc.lungsHidden.auc, 1);
    assert.equal(corner.auc.lungsOnly.auc, 0.5);
    assert.equal(corner.flag.flagged, true);
    assert.equal(corner.flag.reasons.length, 2);
    assert.ok(corner.camOutside.all > 0.99, `corner CAM outside share ${corner.camOutside.all}`);
  });

  test('explainFiles writes the pictures and JSON and reports a bad file without stopping', async () => {
    const data = join(dir, 'data-centre');
    const out = join(dir, 'explain-out');
    const files = [join(data, 'test', 'covid', 'img-230.png'), join(data, 'test', 'non', 'broken.png'), join(data, 'test', 'non', 'img-20.png')];
    const summary = await explainFiles({ run: join(dir, 'run-centre'), files, method: 'cam', out, captions: false, original: true, runtime: { threads: 1 } });
    assert.equal(summary.files.length, 3);
    assert.ok('error' in summary.files[1]);
    const ok = summary.files[0];
    assert.ok(!('error' in ok));
    if ('error' in ok) return;
    assert.ok(ok.probability > 0.5 && ok.label === 'covid');
    assert.ok(inBlock(ok.peak.x, ok.peak.y, CENTRE));
    const meta = await sharp(ok.outputs.panel).metadata();
    assert.equal(meta.format, 'png');
    assert.equal((await sharp(ok.outputs.overlay).metadata()).width, S);
    assert.ok(summary.panel);
    const json = JSON.parse(await (await import('node:fs/promises')).readFile(join(out, 'explain.cam.json'), 'utf8'));
    assert.equal(json.files.length, 3);
  });
});
