// The portable (browser) resampler against Node's libvips path on dev-set images: the tolerance the
// README states for in-browser inference (at most 3 grey levels, mean under 0.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadGreyImage } from '../src/input/load-image.js';
import { IMAGENET_224, type PreprocessConfig } from '../src/preprocess/config.js';
import { axisTaps, cropPlan, resizeAndCropGrey } from '../src/preprocess/portable.js';
import { resizeAndCrop } from '../src/preprocess/to-tensor.js';
import { DEV_SET, skipNoShared } from './helpers/shared.js';

test('the portable resize + crop is within 3 grey levels of libvips (mean < 0.1) on dev images', { skip: skipNoShared }, async () => {
  let max = 0, sum = 0, n = 0;
  for (const label of ['covid', 'non']) {
    for (const f of (await readdir(join(DEV_SET, 'test', label))).sort().slice(0, 12)) {
      const img = await loadGreyImage(join(DEV_SET, 'test', label, f));
      const ref = await resizeAndCrop(img, IMAGENET_224);
      const got = resizeAndCropGrey(img.data, img.width, img.height, IMAGENET_224);
      assert.equal(got.length, ref.length);
      for (let i = 0; i < ref.length; i++) {
        const d = Math.abs(got[i] - ref[i]);
        max = Math.max(max, d);
        sum += d;
        n++;
      }
    }
  }
  assert.ok(max <= 3, `max difference ${max}`);
  assert.ok(sum / n < 0.1, `mean difference ${sum / n}`);
});

test('the portable path pads a small image with zeros and shrinks a large one like libvips', async () => {
  const small = { width: 100, height: 80, data: new Uint8Array(100 * 80).fill(200) };
  const cfg = { ...IMAGENET_224, resizeShorter: 60 };
  const got = resizeAndCropGrey(small.data, small.width, small.height, cfg);
  // resized to 75 x 60, then centred in the 224 x 224 crop on zeros (torchvision's padding)
  const inside = (y: number, x: number) => y >= 82 && y < 142 && x >= 74 && x < 149;
  for (let y = 0; y < 224; y++) for (let x = 0; x < 224; x++) assert.equal(got[y * 224 + x], inside(y, x) ? 200 : 0, `pixel ${x},${y}`);
  const big = { width: 900, height: 700, data: Uint8Array.from({ length: 900 * 700 }, (_, i) => ((i % 900) * 7 + Math.floor(i / 900) * 3) % 256) };
  const g2 = resizeAndCropGrey(big.data, big.width, big.height, IMAGENET_224);
  const r2 = await resizeAndCrop({ ...big, format: 'png', bitDepth: 8 } as never, IMAGENET_224);
  let mean = 0;
  for (let i = 0; i < r2.length; i++) mean += Math.abs(g2[i] - r2[i]) / r2.length;
  assert.ok(mean < 8, `mean difference ${mean} on a 4x shrink`);
});

/**
 * The resampler written the plain way: every output pixel sums its taps one by one, edges
 * clamped pixel by pixel, vertical pass rounded to 8 bits. The fast loops (plans kept per size,
 * padded rows, written-out 4- and 5-tap sums) must give exactly these bytes.
 */
function plainResample(data: Uint8Array, width: number, height: number, cfg: PreprocessConfig): Uint8Array {
  const [ch, cw] = cfg.crop;
  const { nw, nh, padX, padY, top, left } = cropPlan(width, height, cfg);
  const tx = axisTaps(width, nw, left - Math.floor(padX / 2), cw, cfg.interpolation);
  const ty = axisTaps(height, nh, top - Math.floor(padY / 2), ch, cfg.interpolation);
  const clamp = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));
  const round = (s: number) => Math.min(255, Math.max(0, Math.floor(s + 0.5)));
  const vertical = (k: number, x: number) => {
    let s = 0;
    for (let j = 0; j < ty.count; j++) s += ty.weights[k * ty.count + j] * data[clamp(ty.first[k] + j, height) * width + x];
    return round(s);
  };
  const out = new Uint8Array(ch * cw);
  for (let k = 0; k < ch; k++) {
    if (!ty.inside[k]) continue;
    for (let c = 0; c < cw; c++) {
      if (!tx.inside[c]) continue;
      let s = 0;
      for (let j = 0; j < tx.count; j++) s += tx.weights[c * tx.count + j] * vertical(k, clamp(tx.first[c] + j, width));
      out[k * cw + c] = round(s);
    }
  }
  return out;
}

test('the fast resampler gives exactly the bytes of the plain one: every filter, shrinks of 1.1x to 3x, padding, odd sizes', () => {
  const cfgs: PreprocessConfig[] = [
    IMAGENET_224,
    { ...IMAGENET_224, interpolation: 'bicubic' },
    { ...IMAGENET_224, interpolation: 'lanczos3' },
    { ...IMAGENET_224, interpolation: 'nearest' },
    { ...IMAGENET_224, resizeShorter: 256 },
    { ...IMAGENET_224, resizeShorter: 60 },
    { ...IMAGENET_224, resizeShorter: 100, crop: [96, 120] },
  ];
  const sizes: Array<[number, number]> = [[256, 256], [307, 256], [256, 309], [448, 500], [300, 600], [673, 259], [90, 70], [224, 224]];
  let seed = 1;
  for (const [w, h] of sizes) {
    const data = Uint8Array.from({ length: w * h }, (_, i) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      // edges, a gradient and noise, so that every tap matters
      return ((i % w) * 5 + Math.floor(i / w) * 3 + ((i % w) > w / 3 ? 90 : 0) + (seed >>> 26)) & 255;
    });
    for (const cfg of cfgs) {
      const want = plainResample(data, w, h, cfg);
      const got = resizeAndCropGrey(data, w, h, cfg);
      assert.deepEqual(Buffer.from(got), Buffer.from(want), `${w}x${h} ${cfg.interpolation} ${cfg.resizeShorter}/${cfg.crop}`);
      // into a buffer of the caller's, over earlier contents: the same bytes
      const into = new Uint8Array(want.length).fill(77);
      assert.equal(resizeAndCropGrey(data, w, h, cfg, into), into);
      assert.deepEqual(Buffer.from(into), Buffer.from(want));
    }
  }
});
