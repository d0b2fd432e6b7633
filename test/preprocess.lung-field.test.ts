// The lung-field-only option of the preprocessing contract: what it does to a synthetic crop (the
// geometric lung region kept, everything else the mean grey of the region), that it is part of the
// contract and its cache key, and that greyToTensor (the step every path shares, the browser's
// included) applies it before any grey-level standardisation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IMAGENET_224, preprocessKey, withRobustPreprocess, type PreprocessConfig } from '../src/preprocess/config.js';
import { GREY_LEVEL_PRESETS, standardiseGrey } from '../src/preprocess/grey-levels.js';
import { keepLungField, LUNG_REGION, lungFieldOf, regionMask } from '../src/preprocess/lung-region.js';
import { greyToTensor } from '../src/preprocess/portable.js';

const W = 96, H = 80;

/** A crop with a bright frame (a film border), a white corner label, and a ramp in between. */
function framed(): Uint8Array {
  const img = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const border = x < 4 || y < 4 || x >= W - 4 || y >= H - 4;
    const label = x < 14 && y < 10;
    img[y * W + x] = border ? 250 : label ? 255 : 40 + Math.floor((x * 100) / W);
  }
  return img;
}

test('keepLungField keeps the lung region as it was and fills the rest with the region\'s own mean grey', () => {
  const src = framed();
  const field = lungFieldOf();
  const out = keepLungField(src, W, H, field);
  const mask = regionMask([H, W]);
  let sum = 0, n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) { sum += src[i]; n++; }
  assert.ok(n > 0.3 * W * H && n < 0.6 * W * H, `region covers ${n} of ${W * H} pixels`);
  const fill = Math.round(sum / n);
  for (let i = 0; i < src.length; i++) assert.equal(out[i], mask[i] ? src[i] : fill, `pixel ${i}`);
  // the border and the label are gone, and the input is untouched
  assert.equal(out[0], fill);
  assert.equal(out[5 * W + 5], fill);
  assert.equal(src[0], 250);
  // nothing outside the lungs reaches the output: changing it changes nothing
  const other = src.slice();
  for (let i = 0; i < other.length; i++) if (!mask[i]) other[i] = 255 - other[i];
  assert.deepEqual(keepLungField(other, W, H, field), out);
  // the mask scales with the crop: the two lung centres are kept, the mediastinum strip and the corners are not
  const m224 = regionMask([224, 224]);
  assert.equal(m224[112 * 224 + Math.round(0.29 * 224)], 1);
  assert.equal(m224[112 * 224 + Math.round(0.71 * 224)], 1);
  assert.equal(m224[112 * 224 + 112], 0);
  assert.equal(m224[5 * 224 + 5], 0);
});

test('lung fields only is part of the contract: recorded ellipses, its own cache key, applied by greyToTensor before the grey levels', () => {
  const lungs = withRobustPreprocess(IMAGENET_224, { greyLevels: 'none', borderCrop: 0, lungField: true });
  assert.deepEqual(lungs.lungField, { region: LUNG_REGION.name, ellipses: LUNG_REGION.ellipses.map((e) => ({ ...e })) });
  assert.equal(lungs.resizeShorter, IMAGENET_224.resizeShorter);
  assert.equal(withRobustPreprocess(IMAGENET_224, { greyLevels: 'none', borderCrop: 0, lungField: false }), IMAGENET_224);
  // older contracts keep their keys (their cached features stay valid); the option gets new ones
  const clahe = withRobustPreprocess(IMAGENET_224, { greyLevels: 'clahe', borderCrop: 0 });
  const both = withRobustPreprocess(IMAGENET_224, { greyLevels: 'clahe', borderCrop: 0, lungField: true });
  assert.equal(preprocessKey(clahe), JSON.stringify([224, 'bilinear', [224, 224], IMAGENET_224.mean, IMAGENET_224.std, GREY_LEVEL_PRESETS.clahe]));
  assert.equal(new Set([IMAGENET_224, clahe, lungs, both].map(preprocessKey)).size, 4);

  const src = framed();
  const cfg: PreprocessConfig = { ...lungs, crop: [H, W] };
  const plainCfg: PreprocessConfig = { ...IMAGENET_224, crop: [H, W] };
  const withOption = new Float32Array(3 * W * H);
  greyToTensor(src, cfg, withOption);
  const byHand = new Float32Array(3 * W * H);
  greyToTensor(keepLungField(src, W, H, cfg.lungField!), plainCfg, byHand);
  assert.deepEqual(withOption, byHand);
  const plain = new Float32Array(3 * W * H);
  greyToTensor(src, plainCfg, plain);
  assert.notDeepEqual(withOption, plain);
  // with CLAHE too: the lungs are cut out first, then standardised
  const bothCfg: PreprocessConfig = { ...both, crop: [H, W] };
  const withBoth = new Float32Array(3 * W * H);
  greyToTensor(src, bothCfg, withBoth);
  const bothByHand = new Float32Array(3 * W * H);
  greyToTensor(standardiseGrey(keepLungField(src, W, H, both.lungField!), W, H, GREY_LEVEL_PRESETS.clahe), plainCfg, bothByHand);
  assert.deepEqual(withBoth, bothByHand);
});
