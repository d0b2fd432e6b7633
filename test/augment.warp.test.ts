import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  adjustIntensity, augmentImage, augmentMatrix, composeAffine, createAugmenter, DEFAULT_AUGMENT_PARAMS, drawAugment, invertAffine,
  resolveAugmentParams, warpAffine, type Affine,
} from '../src/augment/index.js';
import type { GreyImage } from '../src/input/grey-image.js';
import { Rng } from '../src/util/rng.js';

function randomImage(w: number, h: number, seed: number): GreyImage {
  const rng = new Rng(seed);
  const data = new Uint8Array(w * h);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(256);
  return { width: w, height: h, data };
}

const SHA = 'a'.repeat(64);

describe('augment: parameters', () => {
  it('draws every parameter inside its range, over many images and variants', () => {
    const p = resolveAugmentParams();
    for (let v = 1; v <= 400; v++) {
      const d = drawAugment(p, 0, `${v % 7}`.repeat(64), v, 200, 100);
      assert.ok(Math.abs(d.rotateDeg) <= 10, `rotation ${d.rotateDeg}`);
      assert.ok(d.zoom >= 0.9 && d.zoom <= 1.1, `zoom ${d.zoom}`);
      assert.ok(Math.abs(d.shearDeg) <= 5, `shear ${d.shearDeg}`);
      assert.ok(Math.abs(d.shiftX) <= 20, `shift ${d.shiftX} px of 200`);
      assert.equal(d.shiftY, 0);
      assert.ok(d.brightness >= 0.9 && d.brightness <= 1.1);
      assert.ok(d.contrast >= 0.9 && d.contrast <= 1.1);
      assert.equal(d.flip, false);
    }
  });

  it('rejects out-of-range settings with a message naming them', () => {
    assert.throws(() => resolveAugmentParams({ rotateDeg: -1 }), /rotateDeg/);
    assert.throws(() => resolveAugmentParams({ zoomMin: 1.2, zoomMax: 1.1 }), /zoomMin/);
    assert.throws(() => resolveAugmentParams({ brightness: 1 }), /brightness/);
  });

  it('the key encodes every parameter and the seed', () => {
    const base = createAugmenter().key;
    assert.notEqual(createAugmenter({}, 1).key, base);
    for (const k of Object.keys(DEFAULT_AUGMENT_PARAMS) as (keyof typeof DEFAULT_AUGMENT_PARAMS)[]) {
      const changed = { [k]: k === 'zoomMin' ? 0.8 : k === 'zoomMax' ? 1.2 : (DEFAULT_AUGMENT_PARAMS[k] as number) + 0.05 };
      assert.notEqual(createAugmenter(changed).key, base, `key must change with ${k}`);
    }
  });
});

describe('augment: warp', () => {
  it('compose and invert are consistent', () => {
    const a: Affine = [1.1, 0.2, 3, -0.1, 0.9, -2];
    const b: Affine = [0.8, -0.3, 1, 0.25, 1.2, 4];
    const id = composeAffine(a, invertAffine(a));
    [1, 0, 0, 0, 1, 0].forEach((v, i) => assert.ok(Math.abs(id[i] - v) < 1e-12));
    // (A·B) applied to a point = A applied to (B applied to the point)
    const ab = composeAffine(a, b);
    const apply = (m: Affine, x: number, y: number) => [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
    const [bx, by] = apply(b, 5, 7);
    const [x1, y1] = apply(a, bx, by);
    const [x2, y2] = apply(ab, 5, 7);
    assert.ok(Math.abs(x1 - x2) < 1e-12 && Math.abs(y1 - y2) < 1e-12);
  });

  it('an integer shift moves pixels exactly and fills black', () => {
    const img = randomImage(9, 7, 1);
    const out = warpAffine(img, [1, 0, 2, 0, 1, -1]);
    for (let y = 0; y < 7; y++) {
      for (let x = 0; x < 9; x++) {
        const sx = x - 2;
        const sy = y + 1;
        const want = sx >= 0 && sy < 7 ? img.data[sy * 9 + sx] : 0;
        assert.equal(out.data[y * 9 + x], want, `pixel ${x},${y}`);
      }
    }
  });

  it('a 90° rotation about the centre of a square image matches index arithmetic', () => {
    const n = 8;
    const img = randomImage(n, n, 2);
    const draw = { rotateDeg: 90, zoom: 1, shearDeg: 0, shiftX: 0, shiftY: 0, brightness: 1, contrast: 1, flip: false };
    const out = warpAffine(img, augmentMatrix(draw, n, n));
    // forward: (x, y) -> (c - (y - c), c + (x - c)) with c = (n-1)/2, i.e. out[x'=n-1-y][y'=x]
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) assert.equal(out.data[x * n + (n - 1 - y)], img.data[y * n + x]);
  });

  it('bilinear sampling at a half-pixel shift averages neighbours', () => {
    const img: GreyImage = { width: 3, height: 1, data: Uint8Array.from([10, 30, 90]) };
    const out = warpAffine(img, [1, 0, 0.5, 0, 1, 0]);
    // out(x) = in(x - 0.5): x=1 -> (10+30)/2, x=2 -> (30+90)/2, x=0 -> (0+10)/2 (black outside)
    assert.deepEqual([...out.data], [5, 20, 60]);
  });

  it('brightness and contrast follow (mean + (v - mean) c) b, clamped', () => {
    const d = Uint8Array.from([0, 100, 200, 250]); // mean 137.5
    adjustIntensity(d, 1.1, 0.9);
    const want = [0, 100, 200, 250].map((v) => Math.min(255, Math.max(0, Math.round((137.5 + (v - 137.5) * 0.9) * 1.1))));
    assert.deepEqual([...d], want);
  });
});

describe('augment: augmenter', () => {
  const img = randomImage(64, 48, 3);
  const aug = createAugmenter({}, 0);

  it('is deterministic: same seed, hash and variant give identical pixels', async () => {
    const a = await aug.apply(img, 3, SHA);
    const b = await createAugmenter({}, 0).apply({ ...img, data: img.data.slice() }, 3, SHA);
    assert.deepEqual(a.data, b.data);
  });

  it('keeps the size, differs across variants, seeds and images, and leaves the input alone', async () => {
    const before = img.data.slice();
    const outs = await Promise.all([1, 2, 3, 4].map((v) => aug.apply(img, v, SHA)));
    for (const o of outs) assert.deepEqual([o.width, o.height, o.data.length], [64, 48, 64 * 48]);
    for (let i = 0; i < outs.length; i++) for (let j = i + 1; j < outs.length; j++) assert.notDeepEqual(outs[i].data, outs[j].data);
    assert.notDeepEqual((await createAugmenter({}, 1).apply(img, 1, SHA)).data, outs[0].data);
    assert.notDeepEqual((await aug.apply(img, 1, 'b'.repeat(64))).data, outs[0].data);
    assert.deepEqual(img.data, before);
  });

  it('variant 0 is the original; all-zero ranges give the original back', async () => {
    assert.equal(await aug.apply(img, 0, SHA), img);
    const none = { rotateDeg: 0, zoomMin: 1, zoomMax: 1, shearDeg: 0, shiftX: 0, shiftY: 0, brightness: 0, contrast: 0 };
    assert.deepEqual(augmentImage(img, resolveAugmentParams(none), 0, 5, SHA).data, img.data);
  });

  it('does not depend on processing order', async () => {
    const fwd = [];
    for (const v of [1, 2, 3]) fwd.push((await aug.apply(img, v, SHA)).data);
    const back = [];
    for (const v of [3, 2, 1]) back.unshift((await aug.apply(img, v, SHA)).data);
    assert.deepEqual(fwd, back);
  });
});
