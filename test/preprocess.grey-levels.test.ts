// Grey-level standardisation (a robustness option of the preprocessing contract): what each method
// does to synthetic images, that it is part of the contract's cache key, and that greyToTensor (the
// one step every path shares, the browser's included) applies it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IMAGENET_224, preprocessKey, withRobustPreprocess, type PreprocessConfig } from '../src/preprocess/config.js';
import { GREY_LEVEL_PRESETS, greyLevelsProblem, standardiseGrey } from '../src/preprocess/grey-levels.js';
import { greyToTensor } from '../src/preprocess/portable.js';
import { UsageError } from '../src/errors.js';

const W = 64, H = 64;

/** Two low-contrast halves: left a ramp 100..115, right a ramp 140..155 (rows repeat). */
function twoHalves(): Uint8Array {
  const img = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) img[y * W + x] = (x < W / 2 ? 100 : 140) + Math.floor(((x % (W / 2)) * 16) / (W / 2));
  return img;
}

function spread(img: Uint8Array, x0: number, x1: number): number {
  let lo = 255, hi = 0;
  for (let y = 0; y < H; y++) for (let x = x0; x < x1; x++) {
    lo = Math.min(lo, img[y * W + x]);
    hi = Math.max(hi, img[y * W + x]);
  }
  return hi - lo;
}

test('CLAHE raises local contrast in each half, keeps grey order at each place, and leaves a flat image flat', () => {
  const src = twoHalves();
  // the clip limit bounds the slope of each tile's mapping: 8 allows a several-fold stretch
  const out = standardiseGrey(src, W, H, { method: 'clahe', tiles: 4, clipLimit: 8 });
  assert.equal(out.length, src.length);
  assert.ok(spread(out, 0, W / 2) > 3 * spread(src, 0, W / 2), `left half spread ${spread(src, 0, W / 2)} -> ${spread(out, 0, W / 2)}`);
  assert.ok(spread(out, W / 2, W) > 3 * spread(src, W / 2, W), `right half spread ${spread(src, W / 2, W)} -> ${spread(out, W / 2, W)}`);
  // at any one place, a brighter input never maps darker (each mapping is a blend of monotone tables)
  let prev = -1;
  for (let v = 0; v < 256; v++) {
    const probe = src.slice();
    probe[5 * W + 9] = v;
    const got = standardiseGrey(probe, W, H, { method: 'clahe', tiles: 4, clipLimit: 8 })[5 * W + 9];
    assert.ok(got >= prev, `grey ${v} maps to ${got}, below ${prev}`);
    prev = got;
  }
  // the clip limit stops a flat image from being stretched into noise
  const flat = standardiseGrey(new Uint8Array(W * H).fill(90), W, H, GREY_LEVEL_PRESETS.clahe);
  assert.equal(new Set(flat).size, 1);
  // a lower clip limit gives less contrast (the limit works)
  const gentle = standardiseGrey(src, W, H, { method: 'clahe', tiles: 4, clipLimit: 1 });
  assert.ok(spread(gentle, 0, W / 2) < spread(out, 0, W / 2));
});

test('equalisation spreads a narrow histogram over 0..255; the percentile stretch maps its percentiles to the ends', () => {
  const src = twoHalves();
  const eq = standardiseGrey(src, W, H, GREY_LEVEL_PRESETS.equalize);
  assert.equal(Math.min(...eq), 0);
  assert.equal(Math.max(...eq), 255);
  const st = standardiseGrey(src, W, H, { method: 'stretch', low: 0, high: 100 });
  // 100 -> 0, 155 -> 255, linear between
  assert.equal(st[0], 0);
  assert.equal(Math.max(...st), 255);
  assert.equal(st[W / 2], Math.round(((140 - 100) * 255) / 55));
  assert.equal(greyLevelsProblem({ method: 'stretch', low: 50, high: 10 }) !== null, true);
  assert.equal(greyLevelsProblem({ method: 'clahe', tiles: 0, clipLimit: 2 }) !== null, true);
  assert.equal(greyLevelsProblem(GREY_LEVEL_PRESETS.clahe), null);
});

test('the options are part of the contract: recorded fields, a different cache key, applied by greyToTensor', () => {
  // the paper's recipe keeps its old key, so features cached before the option existed stay valid
  assert.equal(preprocessKey(IMAGENET_224), JSON.stringify([224, 'bilinear', [224, 224], IMAGENET_224.mean, IMAGENET_224.std]));
  assert.equal(withRobustPreprocess(IMAGENET_224, { greyLevels: 'none', borderCrop: 0 }), IMAGENET_224);
  const clahe = withRobustPreprocess(IMAGENET_224, { greyLevels: 'clahe', borderCrop: 0 });
  assert.deepEqual(clahe.greyLevels, GREY_LEVEL_PRESETS.clahe);
  const border = withRobustPreprocess(IMAGENET_224, { greyLevels: 'none', borderCrop: 0.08 });
  assert.equal(border.resizeShorter, 267);
  assert.deepEqual(border.crop, [224, 224]);
  const keys = new Set([IMAGENET_224, clahe, border, withRobustPreprocess(IMAGENET_224, { greyLevels: 'equalize', borderCrop: 0 })].map(preprocessKey));
  assert.equal(keys.size, 4);
  assert.throws(() => withRobustPreprocess(IMAGENET_224, { greyLevels: 'none', borderCrop: 0.4 }), UsageError);

  const cfg: PreprocessConfig = { ...IMAGENET_224, crop: [H, W], greyLevels: GREY_LEVEL_PRESETS.clahe };
  const src = twoHalves();
  const withOption = new Float32Array(3 * W * H);
  greyToTensor(src, cfg, withOption);
  const byHand = new Float32Array(3 * W * H);
  greyToTensor(standardiseGrey(src, W, H, GREY_LEVEL_PRESETS.clahe), { ...IMAGENET_224, crop: [H, W] }, byHand);
  assert.deepEqual(withOption, byHand);
  const plain = new Float32Array(3 * W * H);
  greyToTensor(src, { ...IMAGENET_224, crop: [H, W] }, plain);
  assert.notDeepEqual(withOption, plain);
});
