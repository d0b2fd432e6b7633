// Colour map, heatmap resampling and the PNG pictures (heatmap, overlay, panel).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { applyColormap, VIRIDIS } from '../src/explain/colormap.js';
import { cropBox, cropGeometry, displayRange, displayScale, FIXED_SCALE, fixedScaleMax, heatmapToOriginal, resizeBilinear } from '../src/explain/heatmap.js';
import { blendOverGrey, colourBar, colourise, encodePng, heatPictures, PANEL_LAYOUT, panelSize, renderPanel } from '../src/explain/render.js';
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

test('fixed display scale: every map on 0..max, so a faint map stays faint', () => {
  const strong = { width: 3, height: 1, data: Float32Array.from([-1, 10, 40]) };
  const faint = { width: 3, height: 1, data: Float32Array.from([0, 1, 2]) };
  assert.deepEqual([...displayScale(strong, 'fixed', 20)], [0, 0.5, 1]);
  assert.deepEqual([...displayScale(faint, 'fixed', 20)], [...Float32Array.from([0, 0.05, 0.1])]);
  // under the per-image scale the faint map would reach full colour
  assert.equal(displayScale(faint, 'positive')[2], 1);
  assert.deepEqual(displayRange(faint, 'fixed', 20), { lo: 0, hi: 20 });
  assert.deepEqual(displayRange(strong, 'positive'), { lo: 0, hi: 40 });
  // CAM's fixed value grows with the feature map's cells (the map's mean is the logit difference)
  assert.equal(fixedScaleMax('cam', 169), Number((FIXED_SCALE.camPerCell * 169).toPrecision(6)));
  assert.equal(fixedScaleMax('cam', 49), Number((FIXED_SCALE.camPerCell * 49).toPrecision(6)));
  assert.equal(fixedScaleMax('occlusion', 169), FIXED_SCALE.occlusion);
});

test('crop box: where the model\'s crop lies in the whole image, as fractions', () => {
  // 448 x 224: the centre half of the width, the whole height
  assert.deepEqual(cropBox(448, 224, cropGeometry(448, 224, IMAGENET_224)), { left: 0.25, top: 0, width: 0.5, height: 1 });
  // 896 x 448 is resized by 1/2 first: the same fractions
  const b = cropBox(896, 448, cropGeometry(896, 448, IMAGENET_224));
  for (const [k, v] of Object.entries({ left: 0.25, top: 0, width: 0.5, height: 1 })) assert.ok(Math.abs(b[k as keyof typeof b] - v) < 1e-12, `${k} ${b[k as keyof typeof b]}`);
  // a tall image: the centre part of its height
  const t = cropBox(300, 600, cropGeometry(300, 600, IMAGENET_224));
  assert.ok(Math.abs(t.top - 0.25) < 1e-12 && Math.abs(t.height - 0.5) < 1e-12 && t.left === 0 && Math.abs(t.width - 1) < 1e-12);
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

test('overlays tint the film only where the map shows something, in proportion to its strength', () => {
  const heat = colourise(Float32Array.from([0, 0.5, 1, 0]), 4, 1);
  const out = blendOverGrey(Uint8Array.from([100, 100, 200, 50]), heat, 0.5, Float32Array.from([0, 0.5, 1, NaN]));
  assert.deepEqual([...out.data.subarray(0, 3)], [100, 100, 100], 'strength 0: untouched grey, no purple tint');
  assert.deepEqual([...out.data.subarray(9, 12)], [50, 50, 50], 'NaN (outside what the model saw): untouched');
  const a = 0.25;
  assert.deepEqual([...out.data.subarray(3, 6)], [0, 1, 2].map((c) => Math.round((1 - a) * 100 + a * heat.data[3 + c])));
  assert.deepEqual([...out.data.subarray(6, 9)], [0, 1, 2].map((c) => Math.round(0.5 * 200 + 0.5 * heat.data[6 + c])));
  // heatPictures: the same blend from a raw map under a display scale
  const grey = Uint8Array.from([10, 20, 30]);
  const p = heatPictures({ width: 3, height: 1, data: Float32Array.from([-5, 0, 4]) }, grey, { scale: 'fixed', fixedMax: 8, alpha: 0.6 });
  assert.deepEqual([...p.scaled], [0, 0, 0.5]);
  assert.deepEqual([...p.overlay.data.subarray(0, 6)], [10, 10, 10, 20, 20, 20]);
  assert.deepEqual(p.range, { lo: 0, hi: 8 });
});

test('colour bar: the colour table from low (left) to high (right)', () => {
  const bar = colourBar(256, 2);
  assert.deepEqual([...bar.data.subarray(0, 3)], [0x44, 0x01, 0x54]);
  assert.deepEqual([...bar.data.subarray(3 * 255, 3 * 256)], [0xfd, 0xe7, 0x25]);
  assert.deepEqual([...bar.data.subarray(3 * 256, 3 * 257)], [0x44, 0x01, 0x54], 'every row the same');
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
    // with a colour bar the panel grows by its band, and the bar sits under the heatmap column
    const withBar = await renderPanel(rows, w, h, { captions, colourBar: { low: '0', high: '2 logit', note: 'fixed scale' } });
    const bm = await sharp(withBar.png).metadata();
    assert.equal(bm.height, panelSize(3, w, h, withBar.captions, true).height);
    assert.equal(bm.height! - size.height, PANEL_LAYOUT.gap + PANEL_LAYOUT.bar + (withBar.captions ? PANEL_LAYOUT.barLabels : 0));
    const px = await sharp(withBar.png).raw().toBuffer({ resolveWithObject: true });
    const yBar = size.height - 8 + PANEL_LAYOUT.gap + 2;
    const at = (x: number) => [...px.data.subarray(px.info.channels * (yBar * px.info.width + x), px.info.channels * (yBar * px.info.width + x) + 3)];
    assert.deepEqual(at(8 + w + 8), [0x44, 0x01, 0x54]);
    assert.deepEqual(at(8 + w + 8 + w - 1), [0xfd, 0xe7, 0x25]);
  }
});
