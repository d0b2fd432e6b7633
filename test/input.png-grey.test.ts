// The JavaScript decoder of 8-bit grey PNGs (src/input/png-grey.ts) against sharp: the same pixels
// on dev images and on files written with every row filter; anything it does not cover goes to
// sharp; and its crops (the portable resampler) within the stated tolerance of libvips'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { InputError } from '../src/errors.js';
import { decodeProbed, loadGreyImage, probeImage } from '../src/input/load-image.js';
import { decodeGreyPng, greyPngLayout } from '../src/input/png-grey.js';
import { IMAGENET_224 } from '../src/preprocess/config.js';
import { cropProbed, preprocessIdentity, resizeAndCropProbed } from '../src/preprocess/to-tensor.js';
import { DEV_SET, skipNoShared } from './helpers/shared.js';

function chunk(type: string, body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const tb = Buffer.concat([Buffer.from(type, 'latin1'), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(tb));
  return Buffer.concat([len, tb, crc]);
}

/**
 * An 8-bit grey PNG written byte by byte: row y uses filter `filters[y % filters.length]`, the
 * compressed data is split into `parts` IDAT chunks, `extra` chunks go before the data.
 */
function greyPng(px: Uint8Array, w: number, h: number, opts: { filters?: number[]; parts?: number; extra?: Buffer[]; colourType?: number; interlace?: number } = {}): Buffer {
  const filters = opts.filters ?? [0];
  const raw = Buffer.alloc((w + 1) * h);
  for (let y = 0; y < h; y++) {
    const f = filters[y % filters.length];
    raw[y * (w + 1)] = f;
    for (let x = 0; x < w; x++) {
      const cur = px[y * w + x];
      const a = x > 0 ? px[y * w + x - 1] : 0;
      const b = y > 0 ? px[(y - 1) * w + x] : 0;
      const c = x > 0 && y > 0 ? px[(y - 1) * w + x - 1] : 0;
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      raw[y * (w + 1) + 1 + x] = (cur - pred) & 255;
    }
  }
  const z = deflateSync(raw);
  const parts = opts.parts ?? 1;
  const step = Math.ceil(z.length / parts);
  const idat = Array.from({ length: parts }, (_, i) => chunk('IDAT', z.subarray(i * step, (i + 1) * step)));
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = opts.colourType ?? 0;
  ihdr[12] = opts.interlace ?? 0;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), ...(opts.extra ?? []), ...idat, chunk('IEND', Buffer.alloc(0))]);
}

/** Pixels with edges, gradients and noise, so that every filter predicts something different. */
function pattern(w: number, h: number, seed: number): Uint8Array {
  const px = new Uint8Array(w * h);
  let s = seed;
  for (let i = 0; i < px.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    const x = i % w, y = Math.floor(i / w);
    px[i] = (x * 3 + y * 5 + (x > w / 2 ? 120 : 0) + ((s >>> 24) & 31)) & 255;
  }
  return px;
}

async function sharpGrey(bytes: Uint8Array): Promise<Buffer> {
  return (await sharp(bytes).greyscale().raw().toBuffer({ resolveWithObject: true })).data;
}

test('every row filter, several IDAT chunks and harmless chunks decode to the written pixels, as sharp reads them', async () => {
  for (const [w, h, filters, parts] of [[37, 23, [0, 1, 2, 3, 4], 1], [64, 40, [4, 3, 2, 1, 0], 3], [1, 9, [4, 3], 2], [300, 2, [2, 4], 5]] as const) {
    const px = pattern(w, h, w * h);
    const file = greyPng(px, w, h, { filters: [...filters], parts, extra: [chunk('pHYs', Buffer.alloc(9)), chunk('tEXt', Buffer.from('Comment\0made in a test'))] });
    const layout = greyPngLayout(file);
    assert.ok(layout, `${w}x${h} takes the JavaScript decoder`);
    const got = decodeGreyPng(file, layout);
    assert.ok(got);
    assert.deepEqual(Buffer.from(got), Buffer.from(px), `${w}x${h} pixels`);
    assert.deepEqual(Buffer.from(got), await sharpGrey(file), `${w}x${h} as sharp decodes it`);
  }
});

test('files the decoder does not cover go to sharp: colour, interlace, transparency, gamma, 16 bits', () => {
  const px = pattern(8, 8, 1);
  assert.equal(greyPngLayout(greyPng(px, 8, 8, { colourType: 2 })), null);
  assert.equal(greyPngLayout(greyPng(px, 8, 8, { interlace: 1 })), null);
  assert.equal(greyPngLayout(greyPng(px, 8, 8, { extra: [chunk('tRNS', Buffer.from([0, 0]))] })), null);
  assert.equal(greyPngLayout(greyPng(px, 8, 8, { extra: [chunk('gAMA', Buffer.from([0, 0, 0xb1, 0x8f]))] })), null);
  assert.equal(greyPngLayout(greyPng(px, 8, 8, { extra: [chunk('eXIf', Buffer.alloc(8))] })), null);
  const deep = greyPng(px, 8, 8);
  deep[24] = 16;
  assert.equal(greyPngLayout(deep), null);
  // cut short: no IEND
  const whole = greyPng(px, 8, 8);
  assert.equal(greyPngLayout(whole.subarray(0, whole.length - 12)), null);
});

test('a damaged grey PNG is not decoded by the fast path: sharp decides, and the error names the file', async () => {
  const file = greyPng(pattern(40, 30, 7), 40, 30, { filters: [4] });
  const idat = file.indexOf(Buffer.from('IDAT'));
  // one byte of the compressed data flipped: the chunk's checksum no longer matches
  const bad = Buffer.from(file);
  bad[idat + 10] ^= 0xff;
  const layout = greyPngLayout(bad);
  assert.ok(layout);
  assert.equal(decodeGreyPng(bad, layout), null);
  await assert.rejects(loadGreyImage({ bytes: bad, name: 'flipped.png' }), (err: unknown) => err instanceof InputError && /flipped\.png/.test(err.message));
});

test('on dev images the JavaScript decoder gives sharp\'s pixels, and its crops are within 3 grey levels of libvips\' (mean < 0.1)', { skip: skipNoShared }, async () => {
  let max = 0, sum = 0, n = 0, files = 0;
  for (const label of ['covid', 'non']) {
    for (const f of (await readdir(join(DEV_SET, 'train', label))).sort().slice(0, 15)) {
      const p = await probeImage(join(DEV_SET, 'train', label, f));
      assert.ok(p.greyPng, `${f} is an 8-bit grey PNG`);
      const img = await decodeProbed(p);
      assert.deepEqual(Buffer.from(img.data), await sharpGrey(p.bytes), f);
      const { pixels, image } = await cropProbed(p, IMAGENET_224);
      assert.deepEqual(image?.data, img.data, 'the crop hands over the image it decoded whole');
      const ref = await resizeAndCropProbed(p, IMAGENET_224);
      assert.equal(pixels.length, ref.length);
      for (let i = 0; i < ref.length; i++) {
        const d = Math.abs(pixels[i] - ref[i]);
        if (d > max) max = d;
        sum += d;
        n++;
      }
      files++;
    }
  }
  assert.equal(files, 30);
  assert.ok(max <= 3, `max difference ${max}`);
  assert.ok(sum / n < 0.1, `mean difference ${sum / n}`);
});

test('a grey PNG reduced more than 2x is decoded in JavaScript but resampled by libvips: the crop of the libvips path, its cache key unchanged', async () => {
  const [w, h] = [700, 520];
  const file = greyPng(pattern(w, h, 11), w, h, { filters: [4, 1, 2] });
  const p = await probeImage({ bytes: file, name: 'large.png' });
  assert.ok(p.greyPng);
  const { pixels, image } = await cropProbed(p, IMAGENET_224);
  assert.equal(image?.width, w);
  assert.deepEqual(Buffer.from(pixels), Buffer.from(await resizeAndCropProbed(p, IMAGENET_224)));
  const jpeg = await sharp(Buffer.from(pattern(16, 16, 3)), { raw: { width: 16, height: 16, channels: 1 } }).jpeg().toBuffer();
  assert.equal(preprocessIdentity(file, IMAGENET_224), preprocessIdentity(jpeg, IMAGENET_224));
});

test('the cache key names the JavaScript resampler only for files that take it', async () => {
  const png = greyPng(pattern(16, 16, 3), 16, 16);
  const jpeg = await sharp(Buffer.from(pattern(16, 16, 3)), { raw: { width: 16, height: 16, channels: 1 } }).jpeg().toBuffer();
  const rgb = greyPng(pattern(48, 16, 3), 16, 16, { colourType: 2 });
  assert.notEqual(preprocessIdentity(png, IMAGENET_224), preprocessIdentity(jpeg, IMAGENET_224));
  assert.equal(preprocessIdentity(jpeg, IMAGENET_224), preprocessIdentity(rgb, IMAGENET_224));
});

test('the fast path checks every chunk\'s checksum, so a grey PNG it takes needs no libvips header read', async () => {
  const file = greyPng(pattern(20, 10, 3), 20, 10, { extra: [chunk('tEXt', Buffer.from('Comment\0x'))] });
  assert.ok(greyPngLayout(file));
  // a flipped bit in the header (its width): libvips refuses the file, so the fast path must not take it
  const header = Buffer.from(file);
  header[19] ^= 0x01;
  assert.equal(greyPngLayout(header), null);
  await assert.rejects(probeImage({ bytes: header, name: 'bad-header.png' }), (err: unknown) => err instanceof InputError && /bad-header\.png/.test(err.message));
  // a flipped byte in a text chunk: not taken either (sharp decides)
  const text = Buffer.from(file);
  text[text.indexOf(Buffer.from('Comment')) + 2] ^= 0x20;
  assert.equal(greyPngLayout(text), null);
  // a grey PNG over the pixel limit is refused from its header, as before, naming its size
  await assert.rejects(probeImage({ bytes: file, name: 'big.png' }, { maxPixels: 199 }), (err: unknown) => err instanceof InputError && err.problem === 'too-large' && /20x10 = 200 pixels/.test(err.message));
  const p = await probeImage({ bytes: file, name: 'ok.png' }, { maxPixels: 200 });
  assert.deepEqual([p.width, p.height, p.bitDepth, p.format, p.greyPng !== null], [20, 10, 8, 'png', true]);
});
