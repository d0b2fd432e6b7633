// Colour map, heatmap resampling and the PNG pictures (heatmap, overlay, panel).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { applyColormap, VIRIDIS } from '../src/explain/colormap.js';
import { cropGeometry, displayScale, heatmapToOriginal, resizeBilinear } from '../src/explain/heatmap.js';
import { blendOverGrey, colourise, encodePng, panelSize, renderPanel } from '../src/explain/render.js';
import { IMAGENET_224 } from '../src/preprocess/config.js';

test('viridis table: 256 entries, matplotlib endpoints #440154 and #fde725, and clipping', () => {
  assert.equal(VIRIDIS.length, 768);
  assert.deepEqual([...VIRIDIS.subarray(0, 3)], [0x44, 0x01, 0x54]);
  assert.deepEqual([...VIRIDIS.subarray(765, 768)], [0xfd, 0xe7, 0x25]);
  // matplotlib viridis(0.5) = #21918c (entry 128)
  assert.deepEqual([...applyColormap([128 / 255])], [0x21, 0x91, 0x8c]);
  assert.deepEqual([...applyColormap([-3, NaN, 7])], [0x44, 0x01, 0x54, 0x44, 0x01, 0x54, 0xfd, 0xe7, 0x25]);
});

test('bilinear resize matches hand values (half-pixel centres) and keeps constants', () => {
  const src = { width: 2, height: 1, data: Float32Array.from([0, 1]) };
  const up = resizeBilinear(src, 4, 1);
  // centres of the 4 outputs map to -0.25, 0.25, 0.75, 1.25 in the source: clamped, 0.25, 0.75, clamped
  assert.deepEqual([...up.data], [0, 0.25, 0.75, 1]);
  const c = resizeBilinear({ width: 3, height: 3, data: new Float32Array(9).fill(2.5) }, 224, 224);
  assert.ok(c.data.every((v) => v === 2.5));
});

test('display scaling: negatives clip under "positive", constant maps stay 0', () => {
  const m = { width: 3, height: 1, data: Float32Array.from([-1, 0.5, 1]) };
  assert.deepEqual([...displayScale(m, 'positive')], [0, 0.5, 1]);
  assert.deepEqual([...displayScale(m, 'minmax')], [0, 0.75, 1]);
  assert.deepEqual([...displayScale({ width: 2, height: 1, data: Float32Array.from([-2, -1]) })], [0, 0]);
});

test('crop geometry: a wide image maps its centre square onto the crop; the cut-off sides are NaN', () => {
  // 448 x 224 → resize keeps 448 x 224, crop takes x 112..336
  const geo = cropGeometry(448, 224, IMAGENET_224);
  assert.equal(geo.scaleX, 1);
  assert.equal(geo.offsetX, -112);
  const ramp = new Float32Array(224 * 224);
  for (let y = 0; y < 224; y++) for (let x = 0; x < 224; x++) ramp[y * 224 + x] = x;
  const back = heatmapToOriginal({ width: 224, height: 224, data: ramp }, 448, 224, geo);
  assert.ok(Number.isNaN(back.data[10]));
  assert.equal(back.data[5 * 448 + 112], 0);
  assert.equal(back.data[5 * 448 + 200], 88);
  // a 2x downscale: original pixel centre 2x+0.5 lands on crop x
  const g2 = cropGeometry(448, 448, IMAGENET_224);
  assert.equal(g2.scaleX, 0.5);
  assert.equal(10 * g2.scaleX + g2.offsetX, 4.75);
});

test('overlay blending is (1 − a)·grey + a·colour', () => {
  const heat = colourise(Float32Array.from([0, 1]), 2, 1);
  const out = blendOverGrey(Uint8Array.from([100, 200]), heat, 0.5);
  assert.deepEqual([...out.data], [Math.round(50 + 0x44 / 2), Math.round(50 + 0x01 / 2), Math.round(50 + 0x54 / 2), Math.round(100 + 0xfd / 2), Math.round(100 + 0xe7 / 2), Math.round(100 + 0x25 / 2)]);
});

test('heatmap, overlay and panel PNGs are valid PNGs of the expected sizes', async () => {
  const w = 224;
  const h = 224;
  const values = new Float32Array(w * h);
  for (let i = 0; i < values.length; i++) values[i] = (i % w) / w;
  const grey = new Uint8Array(w * h).fill(128);
  const heat = colourise(values, w, h);
  const overlay = blendOverGrey(grey, heat);
  const png = await encodePng(heat);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, w);
  assert.equal(meta.height, h);
  // the decoded picture is the colour table itself: left edge = viridis(0)
  const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([...data.subarray(0, 3)], [0x44, 0x01, 0x54]);
  for (const captions of [false, true]) {
    const rows = [0, 1, 2].map(() => ({ grey, heat, overlay, caption: 'x.png: P(COVID) = 0.900' }));
    const { png: panel, captions: used } = await renderPanel(rows, w, h, { captions });
    const pm = await sharp(panel).metadata();
    const size = panelSize(3, w, h, used);
    assert.equal(pm.format, 'png');
    assert.equal(pm.width, size.width);
    assert.equal(pm.height, size.height);
    assert.equal(size.width, 8 + 3 * 224 + 2 * 8 + 8);
    if (!captions) assert.equal(size.height, 8 + 3 * 224 + 2 * 8 + 8);
  }
});
