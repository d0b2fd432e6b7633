// Seeded corruption of good PNG, JPEG and small DICOM files fed to loadGreyImage: every case
// must either decode to a consistent image or throw InputError, quickly, and never crash.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { InputError } from '../src/errors.js';
import { loadGreyImage } from '../src/input/load-image.js';
import { Rng } from '../src/util/rng.js';
import { readFixture } from './helpers/dicom-oracle.js';

const CASES_PER_FILE = 60;
const MAX_MS_PER_CASE = 3000;

function corrupt(src: Uint8Array, rng: Rng): Uint8Array {
  const b = src.slice();
  switch (rng.int(4)) {
    case 0: // bit flips
      for (let k = 1 + rng.int(8); k > 0; k--) {
        const i = rng.int(b.length);
        b[i] ^= 1 << rng.int(8);
      }
      return b;
    case 1: // truncation
      return b.subarray(0, rng.int(b.length));
    case 2: { // overwrite a run with random bytes
      const at = rng.int(b.length);
      const len = Math.min(b.length - at, 1 + rng.int(64));
      for (let i = at; i < at + len; i++) b[i] = rng.int(256);
      return b;
    }
    default: { // overwrite a 4-byte word with an extreme value (lengths, dimensions)
      const at = rng.int(Math.max(1, b.length - 4));
      const v = [0xffffffff, 0x7fffffff, 0xffff, 0, 0x10000][rng.int(5)];
      new DataView(b.buffer, b.byteOffset).setUint32(at, v, rng.int(2) === 0);
      return b;
    }
  }
}

/** Blanks the free-form 128-byte preamble (some fixtures carry a TIFF header there, which sniffing would take for TIFF). */
function blankPreamble(b: Uint8Array): Uint8Array {
  const c = b.slice();
  c.fill(0, 0, 128);
  return c;
}

async function sources(): Promise<Array<[string, Uint8Array]>> {
  const w = 64;
  const px = Buffer.alloc(w * w);
  for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) px[y * w + x] = (x * 4 + y * 2) & 255;
  const raw = { raw: { width: w, height: w, channels: 1 as const } };
  const png = await sharp(px, raw).png().toBuffer();
  const jpg = await sharp(px, raw).jpeg({ quality: 85 }).toBuffer();
  return [
    ['png', new Uint8Array(png)],
    ['jpeg', new Uint8Array(jpg)],
    ['mr-implicit', blankPreamble(readFixture('ts-implicit-vr-le-mr-16bit-signed.dcm'))],
    ['mr-rle', blankPreamble(readFixture('ts-rle-lossless-mr-16bit-signed.dcm'))],
    ['cr-16x16', readFixture('cr-monochrome1-rescale-window-16x16.dcm')],
    ['deflated', readFixture('ts-deflated-explicit-le-8bit.dcm')],
    ['jpeg-ls', readFixture('ts-jpegls-lossless-16bit-15stored-signed.dcm')],
  ];
}

test(`fuzz: ${CASES_PER_FILE} seeded corruptions per file decode or throw InputError, each within ${MAX_MS_PER_CASE} ms`, async () => {
  const rng = new Rng(20240611);
  const tally = { decoded: 0, rejected: 0, dicomDecoded: 0 };
  for (const [label, src] of await sources()) {
    for (let c = 0; c < CASES_PER_FILE; c++) {
      const bytes = corrupt(src, rng);
      const name = `${label}-case${c}`;
      const t0 = performance.now();
      try {
        const img = await loadGreyImage({ bytes, name }, { maxPixels: 4_000_000 });
        assert.equal(img.data.length, img.width * img.height, name);
        assert.ok(img.width > 0 && img.height > 0, name);
        tally.decoded++;
        if (img.format === 'dicom') tally.dicomDecoded++;
      } catch (err) {
        if (!(err instanceof InputError)) assert.fail(`${name}: threw ${String(err)} instead of InputError`);
        assert.ok(err.message.startsWith(`${name}: `), `${name}: message does not name the file: ${err.message}`);
        tally.rejected++;
      }
      const ms = performance.now() - t0;
      assert.ok(ms < MAX_MS_PER_CASE, `${name} took ${ms.toFixed(0)} ms`);
    }
  }
  // Both outcomes must occur, or the corruption is not exercising anything.
  assert.ok(tally.decoded > 20 && tally.rejected > 20 && tally.dicomDecoded > 20, JSON.stringify(tally));
});
