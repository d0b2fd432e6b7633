// Geometry of the shortcut check's lung region, the image masking, and the flag rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inRegion, LUNG_REGION, maskImage, regionMask } from '../src/explain/lung-region.js';
import { LungMaskAugmenter, massOutside, shortcutFlag, SHORTCUT_RULE } from '../src/explain/shortcut.js';
import { IMAGENET_224 } from '../src/preprocess/config.js';
import { resizeAndCrop } from '../src/preprocess/to-tensor.js';

const CROP: [number, number] = [224, 224];

test('lung region: lung-field centres inside; mediastinum, corners, shoulders and abdomen outside', () => {
  const inside = [[65, 112], [159, 112], [60, 60], [160, 160]];
  const outside = [[112, 112], [0, 0], [223, 0], [0, 223], [223, 223], [112, 10], [112, 215], [20, 112], [205, 112]];
  for (const [x, y] of inside) assert.ok(inRegion(x, y, CROP), `(${x}, ${y}) should be inside`);
  for (const [x, y] of outside) assert.ok(!inRegion(x, y, CROP), `(${x}, ${y}) should be outside`);
  // symmetric about the vertical midline
  const m = regionMask(CROP);
  for (let y = 0; y < 224; y += 7) for (let x = 0; x < 224; x++) assert.equal(m[y * 224 + x], m[y * 224 + 223 - x]);
});

test('lung region area matches the two ellipses (π·rx·ry each, in crop fractions)', () => {
  const m = regionMask(CROP);
  let n = 0;
  for (const v of m) n += v;
  const expected = LUNG_REGION.ellipses.reduce((s, e) => s + Math.PI * e.rx * e.ry, 0);
  assert.ok(Math.abs(n / m.length - expected) < 0.01, `${n / m.length} vs ${expected}`);
});

test('masking a full-size image hides exactly the region of the crop (and keeps it in lungs-only mode)', async () => {
  // 448 x 672 portrait: resized 224 x 336, crop rows 56..280 of the resized image
  const width = 448;
  const height = 672;
  const img = { width, height, data: new Uint8Array(width * height).fill(200) };
  const hidden = maskImage(img, 'hide-lungs', IMAGENET_224, 0);
  const kept = maskImage(img, 'lungs-only', IMAGENET_224, 0);
  const ch = await resizeAndCrop(hidden, IMAGENET_224);
  const ck = await resizeAndCrop(kept, IMAGENET_224);
  const m = regionMask(CROP);
  let agree = 0;
  for (let i = 0; i < m.length; i++) {
    if ((ch[i] < 100) === (m[i] === 1)) agree++;
    if ((ck[i] >= 100) === (m[i] === 1)) agree++;
  }
  // only resampling at the boundary may differ
  assert.ok(agree / (2 * m.length) > 0.98, `agreement ${agree / (2 * m.length)}`);
  // rows cut off by the centre crop are left alone when hiding the lungs
  assert.equal(hidden.data[5 * width + 224], 200);
  // default fill is the image mean
  const grad = { width: 4, height: 4, data: Uint8Array.from({ length: 16 }, (_, i) => i * 10) };
  const aug = new LungMaskAugmenter('lungs-only', { ...IMAGENET_224, resizeShorter: 4, crop: [4, 4] });
  assert.equal(aug.key, `shortcut:lungs-only:${LUNG_REGION.name}:fill=mean`);
  assert.equal(aug.apply(grad).data[0], 75);
});

const auc = (a: number, lower: number | null = null, upper: number | null = null) => ({ auc: a, lower, upper });

test('flag rule: hidden AUC >= 0.80 or a drop below 0.05 flags; a large drop to a low AUC does not', () => {
  assert.equal(SHORTCUT_RULE.hiddenAucAtLeast, 0.8);
  assert.deepEqual(shortcutFlag(auc(0.95), auc(0.6)), { flagged: false, reasons: [] });
  const high = shortcutFlag(auc(0.95), auc(0.85));
  assert.equal(high.flagged, true);
  assert.equal(high.reasons.length, 1);
  const both = shortcutFlag(auc(0.9), auc(0.88));
  assert.equal(both.reasons.length, 2);
  const smallDrop = shortcutFlag(auc(0.7), auc(0.68));
  assert.equal(smallDrop.flagged, true);
  assert.match(smallDrop.reasons[0], /only 0\.020/);
  assert.equal(shortcutFlag(auc(0.9), auc(0.8)).flagged, true);
  assert.equal(shortcutFlag(auc(0.9), auc(0.799)).flagged, false);
});

test('flag rule: a lungs-hidden AUC whose interval lies clearly above chance flags, with the reason in words', () => {
  // the dev-set SqueezeNet run: 0.707 (0.648–0.766) with the lungs hidden, 0.922 on full images
  const dev = shortcutFlag(auc(0.922, 0.894, 0.95), auc(0.707, 0.648, 0.766));
  assert.equal(dev.flagged, true);
  assert.match(dev.reasons[0], /better than chance: AUC 0\.707 \(95% CI 0\.648–0\.766\)/);
  // an interval that reaches down to chance (or within the margin of it) is not flagged by this reason
  assert.equal(shortcutFlag(auc(0.92), auc(0.6, 0.52, 0.68)).flagged, false);
  assert.equal(shortcutFlag(auc(0.92), auc(0.6, 0.549, 0.65)).flagged, false);
  assert.equal(shortcutFlag(auc(0.92), auc(0.6, 0.551, 0.65)).flagged, true);
});

test('CAM mass outside counts only positive values', () => {
  const mask = Uint8Array.from([1, 1, 0, 0]);
  assert.equal(massOutside(Float32Array.from([1, 1, 2, -5]), mask), 0.5);
  assert.ok(Number.isNaN(massOutside(Float32Array.from([-1, 0, -2, 0]), mask)));
});
