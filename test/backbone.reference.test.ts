import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Backbone } from '../src/backbone/backbone.js';
import { loadGreyImage } from '../src/input/load-image.js';
import { preprocess } from '../src/preprocess/to-tensor.js';
import { parseNpy } from '../src/util/npy.js';
import { DEV_SET, MODELS_DIR, REFERENCE_DIR, SYNTHETIC_SQUEEZENET, skipNoShared } from './helpers/shared.js';

const IMG = 3 * 224 * 224;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

/** Independent spatial mean of an [n, C, H, W] map. */
function meanOverSpace(map: Float32Array, n: number, c: number, hw: number): Float64Array {
  const out = new Float64Array(n * c);
  for (let i = 0; i < n * c; i++) {
    let s = 0;
    for (let k = 0; k < hw; k++) s += map[i * hw + k];
    out[i] = s / hw;
  }
  return out;
}

describe('backbones reproduce the PyTorch reference', { skip: skipNoShared }, () => {
  let squeeze: Backbone;
  let mobile: Backbone;
  let input: Float32Array;
  let files: string[];
  const opts = { modelsDir: MODELS_DIR, devFallback: false, download: false, threads: 2 };

  before(async () => {
    squeeze = await Backbone.load('squeezenet1_1', opts);
    mobile = await Backbone.load('mobilenet_v2', opts);
    input = parseNpy(readFileSync(join(REFERENCE_DIR, 'input.npy'))).data as Float32Array;
    files = (JSON.parse(readFileSync(join(REFERENCE_DIR, 'files.json'), 'utf8')) as { files: string[] }).files;
  });
  after(async () => {
    await squeeze?.release();
    await mobile?.release();
  });

  test('the real-weight files are recognised', () => {
    assert.equal(squeeze.weights, 'imagenet');
    assert.equal(mobile.weights, 'imagenet');
    assert.equal(squeeze.manifest.head.kind, 'squeezenet-conv');
  });

  test('squeezenet1_1 on input.npy: feature map within 1e-3 of squeezenet1_1.features.npy', async () => {
    const ref = parseNpy(readFileSync(join(REFERENCE_DIR, 'squeezenet1_1.features.npy')));
    assert.deepEqual(ref.shape, [12, 512, 13, 13]);
    const out = await squeeze.run(input, 12, { map: true });
    const d = maxAbsDiff(out.map!, ref.data as Float32Array);
    assert.ok(d <= 1e-3, `max abs diff ${d}`);
  });

  test('mobilenet_v2 on input.npy: pooled within 1e-3 of mobilenet_v2.pooled.npy', async () => {
    const ref = parseNpy(readFileSync(join(REFERENCE_DIR, 'mobilenet_v2.pooled.npy')));
    assert.deepEqual(ref.shape, [12, 1280]);
    const out = await mobile.run(input, 12, { pooled: true });
    const d = maxAbsDiff(out.pooled!, ref.data as Float32Array);
    assert.ok(d <= 1e-3, `max abs diff ${d}`);
  });

  // Measured (libvips vs PIL resampling, max 2 grey levels apart): squeezenet's pooled vector
  // 0.9993-0.9998, its 512x13x13 map 0.9962-0.9989, mobilenet_v2's pooled vector 0.9993-0.9998.
  test('end to end from the PNG files: pooled features cosine ≥ 0.999 per image for both', async () => {
    const sqRef = parseNpy(readFileSync(join(REFERENCE_DIR, 'squeezenet1_1.features.npy'))).data as Float32Array;
    const mbRef = parseNpy(readFileSync(join(REFERENCE_DIR, 'mobilenet_v2.pooled.npy'))).data as Float32Array;
    const sqRefPooled = Float32Array.from(meanOverSpace(sqRef, 12, 512, 169));
    const batch = new Float32Array(12 * IMG);
    for (let k = 0; k < files.length; k++) {
      batch.set(await preprocess(await loadGreyImage(join(DEV_SET, files[k])), squeeze.manifest.preprocess), k * IMG);
    }
    const sq = await squeeze.run(batch, 12, { map: true, pooled: true });
    const mb = (await mobile.run(batch, 12, { pooled: true })).pooled!;
    const mapLen = 512 * 13 * 13;
    let worstPooled = 1;
    let worstMap = 1;
    for (let k = 0; k < 12; k++) {
      const cp = cosine(sq.pooled!.subarray(k * 512, (k + 1) * 512), sqRefPooled.subarray(k * 512, (k + 1) * 512));
      const cmap = cosine(sq.map!.subarray(k * mapLen, (k + 1) * mapLen), sqRef.subarray(k * mapLen, (k + 1) * mapLen));
      const cm = cosine(mb.subarray(k * 1280, (k + 1) * 1280), mbRef.subarray(k * 1280, (k + 1) * 1280));
      worstPooled = Math.min(worstPooled, cp, cm);
      worstMap = Math.min(worstMap, cmap);
      assert.ok(cp >= 0.999, `${files[k]}: squeezenet pooled cosine ${cp}`);
      assert.ok(cm >= 0.999, `${files[k]}: mobilenet pooled cosine ${cm}`);
      // the per-position map is more sensitive to the 1-2 grey-level resampling differences
      assert.ok(cmap >= 0.995, `${files[k]}: squeezenet map cosine ${cmap}`);
    }
    console.log(`end-to-end cosine similarity: worst pooled ${worstPooled.toFixed(5)}, worst squeezenet map ${worstMap.toFixed(5)}`);
  });

  test('squeezenet pooled (graph output) is the spatial mean of its map', async () => {
    const out = await squeeze.run(input.subarray(0, 2 * IMG), 2, { pooled: true, map: true });
    const mean = meanOverSpace(out.map!, 2, 512, 169);
    for (let i = 0; i < mean.length; i++) assert.ok(Math.abs(mean[i] - out.pooled![i]) <= 1e-4 * (1 + Math.abs(mean[i])), `entry ${i}`);
  });

  test('a batch of 3 equals three batches of 1', async () => {
    const three = await squeeze.run(input.subarray(0, 3 * IMG), 3, { map: true, pooled: true });
    const mapLen = 512 * 169;
    for (let k = 0; k < 3; k++) {
      const one = await squeeze.run(input.slice(k * IMG, (k + 1) * IMG), 1, { map: true, pooled: true });
      assert.ok(maxAbsDiff(one.map!, three.map!.subarray(k * mapLen, (k + 1) * mapLen)) <= 1e-5, `image ${k} map`);
      assert.ok(maxAbsDiff(one.pooled!, three.pooled!.subarray(k * 512, (k + 1) * 512)) <= 1e-5, `image ${k} pooled`);
    }
  });
});

describe('synthetic squeezenet (no pooled tensor in the graph)', { skip: skipNoShared }, () => {
  test('pooled is computed as the spatial mean of the map', async () => {
    const bb = await Backbone.load('squeezenet1_1', { path: SYNTHETIC_SQUEEZENET, threads: 2 });
    try {
      assert.equal(bb.weights, 'synthetic');
      assert.equal(bb.manifest.features.pooled, null);
      assert.equal(bb.manifest.features.map, '/features/features.12/Concat_output_0');
      const x = new Float32Array(2 * IMG);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) + Math.cos(i * 0.011);
      const out = await bb.run(x, 2, { pooled: true, map: true });
      assert.equal(out.pooled!.length, 2 * 512);
      const mean = meanOverSpace(out.map!, 2, 512, 169);
      let nonzero = 0;
      for (let i = 0; i < mean.length; i++) {
        assert.ok(Math.abs(mean[i] - out.pooled![i]) <= 1e-5 * (1 + Math.abs(mean[i])), `entry ${i}`);
        if (mean[i] !== 0) nonzero++;
      }
      assert.ok(nonzero > 100, 'the features are not trivially zero');
      // asking for pooled only gives the same vector
      const only = await bb.run(x, 2, { pooled: true });
      assert.equal(only.map, undefined);
      assert.deepEqual(only.pooled, out.pooled);
      assert.deepEqual(await bb.featureShapes(), { pooledDim: 512, map: [512, 13, 13] });
    } finally {
      await bb.release();
    }
  });
});
