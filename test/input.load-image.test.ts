import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { InputError, type InputProblem } from '../src/errors.js';
import { loadGreyImage } from '../src/input/load-image.js';
import { BAD_INPUTS, skipNoShared } from './helpers/shared.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dc-load-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Asserts that loading rejects with an InputError of the given problem whose message names the file. */
async function rejectsWith(file: string, problem: InputProblem, pattern?: RegExp): Promise<InputError> {
  let caught: unknown;
  try {
    await loadGreyImage(file);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof InputError, `expected InputError for ${file}, got ${String(caught)}`);
  assert.equal(caught.problem, problem, caught.message);
  assert.equal(caught.file, file);
  assert.ok(caught.message.includes(file), `message should name the file: ${caught.message}`);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

/** A 16-bit greyscale PNG written byte by byte (independent of the decoder under test). */
function png16Grey(vals: Uint16Array, w: number, h: number): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type, 'ascii'), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(tb));
    return Buffer.concat([len, tb, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 16; // bit depth
  ihdr[9] = 0; // greyscale
  const raw = Buffer.alloc(h * (1 + 2 * w));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.writeUInt16BE(vals[y * w + x], y * (1 + 2 * w) + 1 + 2 * x);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

function minMax(a: Uint8Array): [number, number] {
  let lo = 255;
  let hi = 0;
  for (const v of a) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

describe('bad-inputs fixtures behave as their README says', { skip: skipNoShared }, () => {
  const f = (name: string) => join(BAD_INPUTS, name);
  test('reject-truncated.png: truncated, found by decoding', async () => {
    await rejectsWith(f('reject-truncated.png'), 'truncated');
  });
  test('reject-truncated.jpg: truncated (a warning from libjpeg is an error)', async () => {
    await rejectsWith(f('reject-truncated.jpg'), 'truncated', /JPEG data ends at byte \d+, inside the image data, without its end-of-image marker/);
  });
  test('reject-empty.png: empty', async () => {
    await rejectsWith(f('reject-empty.png'), 'empty', /empty file/);
  });
  test('reject-text-not-image.png: not an image, whatever the extension', async () => {
    await rejectsWith(f('reject-text-not-image.png'), 'not-an-image', /not an image/);
  });
  test('reject-bomb-30000x30000.png: too large, quickly (before decoding 900 Mpx)', async () => {
    const t0 = performance.now();
    await rejectsWith(f('reject-bomb-30000x30000.png'), 'too-large', /pixel limit/);
    assert.ok(performance.now() - t0 < 5000, 'the bomb must be rejected from the header, not by decoding');
  });
  test('valid-16bit-gray.png: stretched by its own range (max 255, not ~12)', async () => {
    const img = await loadGreyImage(f('valid-16bit-gray.png'));
    assert.equal(img.width, 64);
    assert.equal(img.height, 64);
    assert.equal(img.bitDepth, 16);
    assert.deepEqual(minMax(img.data), [0, 255]);
  });
  test('valid-rgba.png: alpha flattened onto black, one channel', async () => {
    const img = await loadGreyImage(f('valid-rgba.png'));
    assert.equal(img.data.length, 64 * 64);
    // the left 8 columns are fully transparent: black after flattening
    for (let y = 0; y < 64; y++) for (let x = 0; x < 8; x++) assert.equal(img.data[y * 64 + x], 0);
    const [, hi] = minMax(img.data.subarray(64 * 10 + 8, 64 * 10 + 64));
    assert.ok(hi > 0, 'the opaque part keeps its grey content');
  });
  test('valid-1x1-degenerate.png: accepted', async () => {
    const img = await loadGreyImage(f('valid-1x1-degenerate.png'));
    assert.equal(img.width, 1);
    assert.equal(img.height, 1);
    assert.equal(img.data.length, 1);
  });
});

describe('loadGreyImage on fixtures made here', () => {
  test('format is decided by content: a PNG named .jpg decodes as PNG', async () => {
    const data = Buffer.from(Array.from({ length: 12 }, (_, i) => i * 20));
    const file = join(dir, 'really-a-png.jpg');
    await writeFile(file, await sharp(data, { raw: { width: 4, height: 3, channels: 1 } }).png().toBuffer());
    const img = await loadGreyImage(file);
    assert.equal(img.format, 'png');
    assert.deepEqual([...img.data], [...data]);
  });

  test('a text file named .png is rejected as not-an-image', async () => {
    const file = join(dir, 'notes.png');
    await writeFile(file, 'just some text, not pixels\n');
    await rejectsWith(file, 'not-an-image');
  });

  test('a missing file is unreadable, naming the file', async () => {
    await rejectsWith(join(dir, 'nope.png'), 'unreadable', /not found/);
  });

  test('RGB is converted to one grey channel (luminance)', async () => {
    // pure red, green, blue and white pixels
    const rgb = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
    const file = join(dir, 'rgb.png');
    await writeFile(file, await sharp(rgb, { raw: { width: 4, height: 1, channels: 3 } }).png().toBuffer());
    const img = await loadGreyImage(file);
    assert.equal(img.data.length, 4);
    const [r, g, b, w] = img.data;
    // luminance weights green most, blue least; white stays white
    assert.ok(g > r && r > b, `expected G > R > B, got ${r} ${g} ${b}`);
    assert.equal(w, 255);
    // a neutral grey pixel keeps its value
    const greyFile = join(dir, 'grey-rgb.png');
    await writeFile(greyFile, await sharp(Buffer.from([90, 90, 90, 200, 200, 200]), { raw: { width: 2, height: 1, channels: 3 } }).png().toBuffer());
    const grey = await loadGreyImage(greyFile);
    assert.deepEqual([...grey.data], [90, 200]);
  });

  test('a 16-bit grey PNG with values 100..3000 stretches linearly to 0..255', async () => {
    const w = 30;
    const h = 2;
    const vals = new Uint16Array(w * h);
    for (let i = 0; i < vals.length; i++) vals[i] = 100 + Math.round((2900 * i) / (vals.length - 1));
    const file = join(dir, 'grey16.png');
    await writeFile(file, png16Grey(vals, w, h));
    const img = await loadGreyImage(file);
    assert.equal(img.bitDepth, 16);
    assert.deepEqual(minMax(img.data), [0, 255]);
    for (let i = 0; i < vals.length; i++) {
      const want = ((vals[i] - 100) / 2900) * 255;
      assert.ok(Math.abs(img.data[i] - want) <= 1, `pixel ${i}: ${img.data[i]} vs ${want}`);
    }
  });

  test('maxPixels rejects from the header, before decoding', async () => {
    const file = join(dir, 'big.png');
    await writeFile(file, await sharp({ create: { width: 200, height: 100, channels: 3, background: '#808080' } }).png().toBuffer());
    let caught: unknown;
    try {
      await loadGreyImage(file, { maxPixels: 19_999 });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof InputError);
    assert.equal(caught.problem, 'too-large');
    assert.ok(caught.message.includes(file));
    const ok = await loadGreyImage(file, { maxPixels: 20_000 });
    assert.equal(ok.width * ok.height, 20_000);
  });

  test('bytes with a name: errors use the given name', async () => {
    await assert.rejects(loadGreyImage({ bytes: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), name: 'upload:x.png' }),
      (e: unknown) => e instanceof InputError && e.problem === 'not-an-image' && e.message.startsWith('upload:x.png'));
  });
});
