// The portable (browser) resampler against Node's libvips path on dev-set images: the tolerance the
// README states for in-browser inference (at most 3 grey levels, mean under 0.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadGreyImage } from '../src/input/load-image.js';
import { IMAGENET_224 } from '../src/preprocess/config.js';
import { resizeAndCropGrey } from '../src/preprocess/portable.js';
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
