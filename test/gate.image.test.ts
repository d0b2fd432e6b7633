// The gate's image layer: size, shape, contrast and colour measured on the image as stored,
// on images made here with sharp and on the shared bad-input and not-cxr files.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { assessImage, measureGrey, measureImage, type ImageFacts } from '../src/gate/index.js';
import { probeImage, loadGreyImage } from '../src/input/load-image.js';
import { Rng } from '../src/util/rng.js';
import { BAD_INPUTS, SHARED, skipNoShared } from './helpers/shared.js';

/** A noisy grey field (std ≈ 37 grey levels), as `channels` 1 or 3 identical channels. */
function noisyGrey(width: number, height: number, channels: 1 | 3, rng = new Rng(1)): Buffer {
  const px = Buffer.alloc(width * height * channels);
  for (let i = 0; i < width * height; i++) {
    const v = Math.round(64 + 128 * rng.next());
    for (let c = 0; c < channels; c++) px[i * channels + c] = v;
  }
  return px;
}

async function png(raw: Buffer, width: number, height: number, channels: 1 | 3 | 4): Promise<Uint8Array> {
  const img = sharp(raw, { raw: { width, height, channels } });
  // sharp writes RGB unless told the image is grey
  return (channels === 1 ? img.toColourspace('b-w') : img).png().toBuffer();
}

async function facts(bytes: Uint8Array): Promise<ImageFacts> {
  return (await measureImage(await probeImage({ bytes, name: 'made.png' }))).facts;
}

const codes = (f: ImageFacts) => assessImage(f).reasons.map((r) => `${r.level}:${r.code}`);

describe('measureImage and assessImage', () => {
  test('a grey radiograph-sized image passes; grey stored as RGB is not colour', async () => {
    const grey = await facts(await png(noisyGrey(300, 360, 1), 300, 360, 1));
    assert.equal(grey.storedChannels, 1);
    assert.ok(grey.greyStd > 30 && grey.greyStd < 45, `std ${grey.greyStd}`);
    assert.deepEqual(codes(grey), []);
    const rgb = await facts(await png(noisyGrey(300, 360, 3), 300, 360, 3));
    assert.equal(rgb.storedChannels, 3);
    assert.equal(rgb.colourFraction, 0);
    assert.equal(rgb.meanChroma, 0);
    assert.ok(Math.abs(rgb.greyStd - grey.greyStd) < 0.5);
    assert.deepEqual(codes(rgb), []);
  });

  test('too small is refused as the `too-small` problem; smaller than the crop warns', async () => {
    const tiny = await facts(await png(noisyGrey(40, 60, 1), 40, 60, 1));
    assert.deepEqual(codes(tiny), ['refuse:too-small']);
    assert.match(assessImage(tiny).reasons[0].message, /only 40 x 60 pixels; at least 64/);
    assert.deepEqual(codes(await facts(await png(noisyGrey(100, 120, 1), 100, 120, 1))), ['warn:low-resolution']);
    // the limits are settings
    assert.deepEqual(assessImage(tiny, { minShortSide: 32, warnShortSide: 32 }).reasons, []);
  });

  test('a shape no chest film has is refused; a wide crop warns', async () => {
    assert.deepEqual(codes(await facts(await png(noisyGrey(1000, 300, 1), 1000, 300, 1))), ['refuse:extreme-aspect']);
    assert.deepEqual(codes(await facts(await png(noisyGrey(600, 300, 1), 600, 300, 1))), ['warn:unusual-aspect']);
  });

  test('a uniform image is refused as blank, a flat one warned', async () => {
    const flat = Buffer.alloc(300 * 300, 128);
    assert.deepEqual(codes(await facts(await png(flat, 300, 300, 1))), ['refuse:blank']);
    const low = Buffer.from(flat.map((v, i) => v + (i % 2 ? 6 : -6)));
    assert.deepEqual(codes(await facts(await png(low, 300, 300, 1))), ['warn:low-contrast']);
  });

  test('a colour picture is refused; coloured marks on a grey film warn', async () => {
    const rng = new Rng(2);
    const photo = Buffer.alloc(300 * 300 * 3);
    for (let i = 0; i < photo.length; i++) photo[i] = Math.round(255 * rng.next());
    const p = await facts(await png(photo, 300, 300, 3));
    assert.ok(p.colourFraction > 0.8);
    assert.deepEqual(codes(p), ['refuse:colour-picture']);
    // a red arrow-sized mark: 40 x 40 of 300 x 300 = 1.8% of the pixels
    const marked = noisyGrey(300, 300, 3);
    for (let y = 10; y < 50; y++) for (let x = 10; x < 50; x++) marked.set([230, 20, 20], (y * 300 + x) * 3);
    const m = await facts(await png(marked, 300, 300, 3));
    assert.ok(m.colourFraction > 0.01 && m.colourFraction < 0.03, `${m.colourFraction}`);
    assert.deepEqual(codes(m), ['warn:colour-tint']);
  });

  test('alpha is flattened as the grey path does, not counted as colour', async () => {
    const rgba = Buffer.alloc(300 * 300 * 4);
    const g = noisyGrey(300, 300, 1);
    for (let i = 0; i < 300 * 300; i++) rgba.set([g[i], g[i], g[i], 255], i * 4);
    const f = await facts(await png(rgba, 300, 300, 4));
    assert.equal(f.colourFraction, 0);
    assert.deepEqual(codes(f), []);
  });

  test('measureGrey agrees with the colour path on a grey image', async () => {
    const bytes = await png(noisyGrey(256, 256, 1), 256, 256, 1);
    const a = await facts(bytes);
    const b = measureGrey(await loadGreyImage({ bytes, name: 'g.png' }));
    assert.equal(a.width, b.width);
    assert.ok(Math.abs(a.greyStd - b.greyStd) < 1e-9);
  });
});

describe('image facts of the shared files', { skip: skipNoShared }, () => {
  test('the 1x1 degenerate PNG is refused as too small; the 16-bit grey PNG is measured over its own range', async () => {
    const one = (await measureImage(await probeImage(join(BAD_INPUTS, 'valid-1x1-degenerate.png')))).facts;
    assert.equal(assessImage(one).reasons[0].code, 'too-small');
    const deep = (await measureImage(await probeImage(join(BAD_INPUTS, 'valid-16bit-gray.png')))).facts;
    // 12-bit data in 16 bits: stretched like the grey path, so its std matches the decoded image's
    const decoded = measureGrey(await loadGreyImage(join(BAD_INPUTS, 'valid-16bit-gray.png')));
    assert.ok(Math.abs(deep.greyStd - decoded.greyStd) < 0.5, `${deep.greyStd} vs ${decoded.greyStd}`);
    assert.ok(deep.greyStd > 10);
  });

  test('the not-cxr photographs are refused as colour pictures', async () => {
    for (const f of ['giraffe.jpg', 'horses.jpg', 'kite.jpg', 'person.jpg', 'scream.jpg']) {
      const r = assessImage((await measureImage(await probeImage(join(SHARED, 'data', 'not-cxr', 'photo', f)))).facts);
      assert.ok(r.reasons.some((x) => x.code === 'colour-picture'), f);
    }
  });

  test('DICOM images are measured from the decoded image, with their header facts', async () => {
    const dcm = join(SHARED, 'data', 'dicom', 'rsna-monochrome2-jpeg-baseline.dcm');
    const m = await measureImage(await probeImage(dcm));
    assert.equal(m.meta?.modality, 'CR');
    assert.equal(m.facts.width, 1024);
    assert.deepEqual(assessImage(m.facts).reasons, []);
  });
});
