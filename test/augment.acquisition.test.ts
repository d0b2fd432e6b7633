// Acquisition augmentation: deterministic by (seed, image, variant), each operation does what it
// says, variant 0 is the original, and the parameters are part of the cache key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyAcquisition, createAcquisitionAugmenter, drawAcquisition, resolveAcquisitionParams, type AcquisitionDraw,
} from '../src/augment/index.js';
import { UsageError } from '../src/errors.js';
import type { GreyImage } from '../src/input/grey-image.js';

/** A 448 x 448 test card: smooth gradient with sharp-edged squares (2 image pixels per crop pixel). */
function card(): GreyImage {
  const w = 448, h = 448;
  const data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = 40 + Math.floor((x + y) / 8) + ((x >> 5) % 2 === (y >> 5) % 2 ? 60 : 0);
  return { width: w, height: h, data };
}

const NONE: AcquisitionDraw = { gamma: null, blurSigma: null, scale: null, noiseSigma: null, jpegQuality: null, noiseSeed: 1 };

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Mean absolute difference between horizontal neighbours: high for sharp edges and noise. */
function roughness(img: GreyImage): number {
  let s = 0;
  for (let y = 0; y < img.height; y++) for (let x = 1; x < img.width; x++) s += Math.abs(img.data[y * img.width + x] - img.data[y * img.width + x - 1]);
  return s / (img.height * (img.width - 1));
}

test('augmenter: variant 0 is the image, variants are deterministic by seed and image, and the key holds every setting', async () => {
  const img = card();
  const aug = createAcquisitionAugmenter({}, 5);
  assert.equal(await aug.apply(img, 0, 'a'.repeat(64)), img);
  const v1 = await aug.apply(img, 1, 'a'.repeat(64));
  const again = await createAcquisitionAugmenter({}, 5).apply(img, 1, 'a'.repeat(64));
  assert.deepEqual(again.data, v1.data);
  assert.notDeepEqual((await createAcquisitionAugmenter({}, 6).apply(img, 1, 'a'.repeat(64))).data, v1.data);
  assert.notDeepEqual((await aug.apply(img, 2, 'a'.repeat(64))).data, v1.data);
  assert.equal(v1.width, img.width);
  assert.equal(v1.height, img.height);
  assert.notEqual(createAcquisitionAugmenter({ noiseSigma: 4 }, 5).key, aug.key);
  assert.notEqual(createAcquisitionAugmenter({}, 6).key, aug.key);
  assert.throws(() => resolveAcquisitionParams({ jpegQualityMin: 80, jpegQualityMax: 20 }), UsageError);
  // draws: the probability is respected over many variants, all in range
  const p = resolveAcquisitionParams();
  let jpeg = 0;
  for (let v = 1; v <= 400; v++) {
    const d = drawAcquisition(p, 0, 'b'.repeat(64), v);
    if (d.jpegQuality !== null) {
      jpeg++;
      assert.ok(d.jpegQuality >= 30 && d.jpegQuality <= 90);
    }
    if (d.gamma !== null) assert.ok(d.gamma >= 1 / 1.5 - 1e-9 && d.gamma <= 1.5 + 1e-9);
  }
  assert.ok(jpeg > 150 && jpeg < 250, `${jpeg} of 400 variants recompressed at probability 0.5`);
});

test('each operation does its job: gamma darkens mid-greys, blur and downscaling smooth, noise roughens, JPEG changes pixels', async () => {
  const img = card();
  const id = await applyAcquisition(img, NONE);
  assert.deepEqual(id.data, img.data);
  const dark = await applyAcquisition(img, { ...NONE, gamma: 1.4 });
  assert.ok(dark.data[100] < img.data[100]);
  const base = roughness(img);
  assert.ok(roughness(await applyAcquisition(img, { ...NONE, blurSigma: 1.2 })) < base);
  assert.ok(roughness(await applyAcquisition(img, { ...NONE, scale: 0.4 })) < base);
  assert.ok(roughness(await applyAcquisition(img, { ...NONE, noiseSigma: 8 })) > base + 2);
  const jpeg = await applyAcquisition(img, { ...NONE, jpegQuality: 30 });
  const d = meanAbsDiff(jpeg.data, img.data);
  assert.ok(d > 0.2 && d < 10, `JPEG q30 mean change ${d}`);
});
