// The gate's mirror-symmetry fact and the version-3 learned check that weighs it: frontal-like and
// lateral-like images made here (a spine between two lungs, or a spine to one side of one lung),
// the same number from a PNG through measureImage and from the grey plane, the evidence rule and
// its cut-off from in-distribution images only, and gate.json version 3 (version 2 still read).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import {
  asymmetry, assessImage, assessScore, crossFitScores, fitGateCrossFitted, fitViewCalibration, gateFromJSON, gateToJSON, logNormalFit, measureGrey, measureImage, planeSymmetry,
  type FeatureRows,
} from '../src/gate/index.js';
import { probeImage } from '../src/input/load-image.js';
import { normalQuantile } from '../src/util/normal.js';
import { Rng } from '../src/util/rng.js';

const SHA = 'cd'.repeat(32);

/**
 * A chest-film-like grey image: a bright body with dark lungs and a bright spine. Frontal: the
 * spine at `axis` (fraction of the width) with a lung either side. Lateral: one large lung in
 * front, the spine near the back (right) edge, the front (left) a soft-tissue grey.
 */
function film(width: number, height: number, view: 'frontal' | 'lateral', rng: Rng, axis = 0.5): Uint8Array {
  const px = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      let g = 170; // soft tissue
      const lung = (cx: number, rx: number) => ((u - cx) / rx) ** 2 + ((v - 0.45) / 0.3) ** 2 < 1;
      if (view === 'frontal') {
        if (lung(axis - 0.2, 0.14) || lung(axis + 0.2, 0.14)) g = 60;
        if (Math.abs(u - axis) < 0.04) g = 230;
      } else {
        if (lung(0.45, 0.25)) g = 70;
        if (Math.abs(u - 0.8) < 0.05 && v > 0.15) g = 235;
        if (u < 0.12) g = 20; // air in front of the chest
      }
      px[y * width + x] = Math.max(0, Math.min(255, Math.round(g + 12 * (rng.next() - 0.5))));
    }
  }
  return px;
}

function mirrored(px: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(px.length);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = px[y * width + (width - 1 - x)];
  return out;
}

describe('mirror symmetry (an image fact)', () => {
  const W = 300;
  const H = 360;
  const frontal = film(W, H, 'frontal', new Rng(1));
  const lateral = film(W, H, 'lateral', new Rng(2));

  test('a frontal-like film is nearly its own mirror image; a lateral-like one is not, nor is its mirror image', () => {
    const f = planeSymmetry(frontal, W, H);
    const l = planeSymmetry(lateral, W, H);
    assert.ok(f > 0.95, `frontal ${f}`);
    assert.ok(l < 0.5, `lateral ${l}`);
    // mirroring a lateral film (patient facing the other way) does not make it frontal
    assert.ok(Math.abs(planeSymmetry(mirrored(lateral, W, H), W, H) - l) < 0.05);
  });

  test('a frontal film off the centre by up to 5% of the width is still symmetric; far off the centre it is not', () => {
    assert.ok(planeSymmetry(film(W, H, 'frontal', new Rng(3), 0.46), W, H) > 0.9);
    assert.ok(planeSymmetry(film(W, H, 'frontal', new Rng(3), 0.3), W, H) < planeSymmetry(frontal, W, H) - 0.3);
  });

  test('a uniform image has symmetry 0 (nothing to compare), not NaN', () => {
    assert.equal(planeSymmetry(new Uint8Array(100 * 100).fill(128), 100, 100), 0);
    assert.equal(asymmetry(1), 1e-3);
    assert.equal(asymmetry(-0.5), 1.5);
  });

  test('the same number from a grey PNG (measureImage), from a larger one it resizes, from RGB, and from the plane (measureGrey)', async () => {
    const bytes = await sharp(Buffer.from(frontal), { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    const viaFile = (await measureImage(await probeImage({ bytes, name: 'frontal.png' }))).facts;
    const plane = measureGrey({ data: frontal, width: W, height: H });
    assert.ok(Math.abs(viaFile.symmetry - plane.symmetry) < 1e-9, `${viaFile.symmetry} vs ${plane.symmetry}`);
    const rgb = await sharp(Buffer.from(lateral), { raw: { width: W, height: H, channels: 1 } }).toColourspace('srgb').png().toBuffer();
    assert.ok(Math.abs((await measureImage(await probeImage({ bytes: rgb, name: 'lateral.png' }))).facts.symmetry - planeSymmetry(lateral, W, H)) < 0.01);
    // 1200 x 1440: measured at 512 px a side after libvips' resampling
    const big = await sharp(Buffer.from(lateral), { raw: { width: W, height: H, channels: 1 } }).resize(4 * W, 4 * H).toColourspace('b-w').png().toBuffer();
    assert.ok(Math.abs((await measureImage(await probeImage({ bytes: big, name: 'big.png' }))).facts.symmetry - planeSymmetry(lateral, W, H)) < 0.02);
    // symmetry alone never refuses or warns: it is weighed by the learned check
    assert.deepEqual(assessImage(viaFile).reasons, []);
  });
});

describe('the learned check weighing mirror symmetry (gate.json version 3)', () => {
  const rng = new Rng(7);
  const n = 200;
  const dim = 8;
  const data = new Float32Array(n * dim);
  for (let i = 0; i < data.length; i++) data[i] = (1 + rng.next()) ** 2;
  const rows: FeatureRows = { data, n, dim };
  const groups = Array.from({ length: n }, (_, i) => `p${Math.floor(i / 2)}`);
  // in-distribution images are frontal: symmetry 0.75–0.98
  const symmetry = Float64Array.from({ length: n }, () => 0.75 + 0.23 * rng.next());
  const gate = fitGateCrossFitted(rows, groups, { backboneSha256: SHA, folds: 5, seed: 0, symmetry });
  const view = gate.view!;

  test('the evidence cut-off is the normal quantile of the in-distribution images\' evidence (out-of-fold scores): about 1% lie above it', () => {
    assert.ok(view);
    const oof = crossFitScores(rows, groups, { folds: 5, seed: 0 }).scores;
    const a = logNormalFit(Array.from(symmetry, asymmetry));
    assert.ok(Math.abs(view.asymLogMean - a.logMean) < 1e-12 && Math.abs(view.asymLogSd - a.logSd) < 1e-12);
    const cal = gate.calibration;
    const ev = Array.from(oof, (s, i) => (Math.log(s) - cal.logMean) / cal.logSd + (Math.log(asymmetry(symmetry[i])) - a.logMean) / a.logSd);
    const m = ev.reduce((x, y) => x + y, 0) / n;
    const sd = Math.sqrt(ev.reduce((x, y) => x + (y - m) ** 2, 0) / (n - 1));
    assert.ok(Math.abs(view.cutoff - (m + normalQuantile(0.99) * sd)) < 1e-9);
    assert.equal(view.flagged, ev.filter((e) => e > view.cutoff).length);
    assert.ok(view.flagged <= 0.03 * n);
    assert.deepEqual(fitViewCalibration(oof, symmetry, cal), view);
    assert.throws(() => fitViewCalibration(oof, symmetry.subarray(1), cal), /200 scores but 199 symmetry values/);
    assert.throws(() => fitViewCalibration(oof, Float64Array.from(symmetry, (v, i) => (i === 3 ? NaN : v)), cal), /not a number/);
  });

  test('at a score just under the cut-off, a symmetric image passes and an asymmetric (lateral-like) one is warned as not frontal', () => {
    const score = gate.cutoff * 0.97;
    const frontal = assessScore(gate, score, 0.9);
    assert.equal(frontal.facts.flagged, false);
    assert.deepEqual(frontal.reasons, []);
    const lateral = assessScore(gate, score, 0.2);
    assert.equal(lateral.facts.flagged, true);
    assert.equal(lateral.reasons[0].code, 'not-frontal');
    assert.equal(lateral.reasons[0].level, 'warn');
    assert.match(lateral.reasons[0].message, /may be a lateral view or an unusual frontal film.*mirror symmetry 0\.20/);
    assert.ok(lateral.facts.evidence! > lateral.facts.evidenceCutoff!);
    // a score above the old cut-off with a very symmetric image need not warn, and a far score is refused whatever its symmetry
    assert.equal(assessScore(gate, gate.cutoff * 1.01, 0.99).facts.flagged, false);
    assert.equal(assessScore(gate, gate.farCutoff * 1.01, 0.99).reasons[0].code, 'far-out-of-distribution');
    // a feature score far out with a symmetric image: warned for its features, in words that name both
    const odd = assessScore(gate, (gate.cutoff + gate.farCutoff) / 2, 0.9);
    assert.equal(odd.reasons[0].code, 'out-of-distribution');
    assert.match(odd.reasons[0].message, /feature score .* and mirror symmetry 0\.90 together/);
    // without the image's symmetry (a caller that did not measure it) the score alone decides
    assert.equal(assessScore(gate, score).facts.flagged, false);
    assert.equal(assessScore(gate, score).facts.evidence, undefined);
  });

  test('gate.json version 3 round-trips the view calibration; a damaged view is named; without symmetry the fit is version 2', () => {
    const json = gateToJSON(gate);
    assert.equal(json.version, 3);
    const back = gateFromJSON(JSON.parse(JSON.stringify(json)), 'gate.json');
    assert.deepEqual(back.view, view);
    assert.deepEqual(assessScore(back, gate.cutoff * 0.97, 0.2), assessScore(gate, gate.cutoff * 0.97, 0.2));
    assert.throws(() => gateFromJSON({ ...json, view: undefined }, '/r/gate.json'), /\/r\/gate\.json: view is missing/);
    assert.throws(() => gateFromJSON({ ...json, view: { ...view, asymLogSd: 0 } }, 'g.json'), /view\.asymLogSd must be a positive number/);
    assert.throws(() => gateFromJSON({ ...json, view: { ...view, quantile: 1 } }, 'g.json'), /view\.quantile must lie in/);
    const v2 = gateToJSON(fitGateCrossFitted(rows, groups, { backboneSha256: SHA, folds: 5, seed: 0 }));
    assert.equal(v2.version, 2);
    assert.equal(v2.view, undefined);
    // a version-2 file carrying a view by mistake: the view is ignored (version 2 has none)
    assert.equal(gateFromJSON({ ...v2, view }, 'g.json').view, undefined);
  });
});
