// DICOM correctness found by an external corpus (issue 12): the Modality LUT Sequence, every
// dicom-parser failure said in words, DICOM objects that hold no image named as such, and the
// header facts an input gate needs in LoadedImage.meta (and nothing identifying). Every file is
// written here, with test/helpers/hostile-images.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../src/errors.js';
import { decodeDicom, decodeDicomToGrey } from '../src/input/dicom/index.js';
import { loadGreyImage } from '../src/input/load-image.js';
import { dicomFile, SOP, type El } from './helpers/hostile-images.js';

const LIMIT = { maxPixels: 1e6 };

/** 16-bit little-endian words as bytes. */
function words(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setUint16(i * 2, v & 0xffff, true));
  return out;
}

/** A Modality LUT Sequence item: descriptor [entries, first input, bits] and the table. */
function modalityLut(first: number, data: number[], bits: number, firstVr: 'US' | 'SS' = 'US', packed8 = false): El {
  const lutData: El = packed8
    ? { tag: 0x00283006, vr: 'OW', value: new Uint8Array(data) }
    : { tag: 0x00283006, vr: 'OW', value: words(data) };
  return {
    tag: 0x00283000, vr: 'SQ', value: [[
      { tag: 0x00283002, vr: firstVr === 'SS' ? 'SS' : 'US', value: firstVr === 'SS' ? [data.length, first, bits] : [data.length, first & 0xffff, bits] },
      { tag: 0x00283004, vr: 'LO', value: 'NONLINEAR' },
      lutData,
    ]],
  };
}

describe('issue 12: the Modality LUT Sequence (0028,3000) is applied', () => {
  // stored values 0..63 on an 8x8 image; the LUT covers inputs 10..41 with a non-linear table
  const stored = Array.from({ length: 64 }, (_, i) => i);
  const table = Array.from({ length: 32 }, (_, k) => 5 + k * k * 3); // 5 .. 2888, convex
  const expected = (s: number, first = 10): number => table[Math.min(table.length - 1, Math.max(0, s - first))];

  test('16-bit entries: below the first input map to the first entry, above the range to the last; rescale is ignored', async () => {
    const bytes = dicomFile({
      rows: 8, columns: 8, bitsAllocated: 16, bitsStored: 16, pixels: words(stored),
      extra: [modalityLut(10, table, 16), { tag: 0x00281052, vr: 'DS', value: '-1000' }, { tag: 0x00281053, vr: 'DS', value: '2' }],
    });
    const d = await decodeDicom(bytes, 'lut16.dcm', LIMIT);
    assert.deepEqual(Array.from(d.values), stored.map((s) => expected(s)));
    const img = await decodeDicomToGrey(bytes, 'lut16.dcm', LIMIT);
    assert.equal(img.meta?.modalityLut, 'sequence');
    // min-max display over the LUT's outputs: the curve survives into the picture
    const lo = table[0];
    const hi = table[table.length - 1];
    assert.deepEqual(Array.from(img.data), stored.map((s) => Math.round(((expected(s) - lo) * 255) / (hi - lo))));
  });

  test('8-bit entries, stored one per word or packed two per word, give the same values', async () => {
    const small = table.map((v) => v >> 4); // 0..180
    const perWord = dicomFile({ rows: 8, columns: 8, bitsAllocated: 16, bitsStored: 16, pixels: words(stored), extra: [modalityLut(10, small, 8)] });
    const packed = dicomFile({ rows: 8, columns: 8, bitsAllocated: 16, bitsStored: 16, pixels: words(stored), extra: [modalityLut(10, small, 8, 'US', true)] });
    const want = stored.map((s) => small[Math.min(31, Math.max(0, s - 10))]);
    assert.deepEqual(Array.from((await decodeDicom(perWord, 'w.dcm', LIMIT)).values), want);
    assert.deepEqual(Array.from((await decodeDicom(packed, 'p.dcm', LIMIT)).values), want);
  });

  test('signed pixels with a negative first input (SS descriptor)', async () => {
    const signedStored = stored.map((s) => s - 32); // -32 .. 31
    const bytes = dicomFile({
      rows: 8, columns: 8, bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 1, pixels: words(signedStored),
      extra: [modalityLut(-20, table, 16, 'SS')],
    });
    const d = await decodeDicom(bytes, 'signed.dcm', LIMIT);
    assert.deepEqual(Array.from(d.values), signedStored.map((s) => expected(s, -20)));
  });
});

describe('issue 12: dicom-parser failures are sentences, never "[object Object]"', () => {
  const good = (): Uint8Array => dicomFile({ rows: 4, columns: 4, bitsAllocated: 8, pixels: new Uint8Array(16), extra: [{ tag: 0x00180015, vr: 'CS', value: 'CHEST' }] });
  const check = async (bytes: Uint8Array, name: string, problem: string, message: RegExp): Promise<void> => {
    await assert.rejects(loadGreyImage({ bytes, name }), (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.doesNotMatch(e.message, /\[object|undefined|dicomParser/);
      assert.equal(e.problem, problem, e.message);
      assert.match(e.message, message);
      return true;
    });
  };

  test('cut inside an element\'s value: truncated, buffer overrun at the element and offset', async () => {
    const b = good();
    const at = Buffer.from(b).indexOf(Buffer.from('CHEST'));
    await check(b.subarray(0, at + 2), 'cut-value.dcm', 'truncated', /^cut-value\.dcm: the DICOM data set is truncated or damaged: buffer overrun \(element \(0018,0015\) at offset \d+ declares 6 bytes, past the end at byte \d+\)$/);
  });

  test('cut inside an element\'s tag: truncated, ends in the middle of an element', async () => {
    const b = good();
    const at = Buffer.from(b).indexOf(Buffer.from('CHEST'));
    await check(b.subarray(0, at - 5), 'cut-tag.dcm', 'truncated', /the DICOM data set is truncated: it ends at byte \d+, in the middle of an element after element \(0008,0060\)/);
  });

  test('a sequence item with the wrong tag: corrupt, with the offset', async () => {
    const b = dicomFile({
      rows: 4, columns: 4, bitsAllocated: 8, pixels: new Uint8Array(16),
      extra: [{ tag: 0x00081110, vr: 'SQ', value: [[{ tag: 0x00081150, vr: 'UI', value: '1.2.3' }]] }],
    });
    const sq = Buffer.from(b).indexOf(Buffer.from([0x08, 0x00, 0x10, 0x11, 0x53, 0x51]));
    assert.ok(sq > 0);
    b[sq + 12] = 0x34; // the item's (FFFE,E000) becomes (FE34,E000)
    await check(b, 'bad-item.dcm', 'corrupt', /not a valid DICOM data set: a sequence item starts with the wrong tag at offset \d+ \(expected an Item, FFFE,E000\)/);
  });

  test('DICM then nothing usable: says the file meta information is missing its transfer syntax', async () => {
    const b = new Uint8Array(200);
    b.set(Buffer.from('DICM'), 128);
    b.fill(0x41, 132);
    await check(b, 'garbage.dcm', 'corrupt', /not a valid DICOM/);
  });
});

describe('issue 12: a DICOM without an image says what it is', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['sr.dcm', SOP.basicTextSr, /not an image: this is a DICOM Structured Report \(Basic Text SR\) \(SOP class 1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\.11\) and holds no Pixel Data/],
    ['plan.dcm', SOP.rtPlan, /not an image: this is a DICOM RT Plan \(radiotherapy treatment plan\) \(SOP class 1\.2\.840\.10008\.5\.1\.4\.1\.1\.481\.5\)/],
    ['DICOMDIR', SOP.mediaStorageDirectory, /not an image: this is a DICOMDIR \(a media directory listing other files\)/],
  ];
  for (const [name, sop, message] of cases) {
    test(`${name}: not-an-image, named`, async () => {
      await assert.rejects(loadGreyImage({ bytes: dicomFile({ sopClass: sop, noImage: true }), name }),
        (e: unknown) => e instanceof InputError && e.problem === 'not-an-image' && message.test(e.message) && e.message.startsWith(`${name}: `));
    });
  }

  test('an unknown SOP class without Rows/Columns or Pixel Data is not an image; an image without Pixel Data is corrupt', async () => {
    await assert.rejects(loadGreyImage({ bytes: dicomFile({ sopClass: '1.2.3.4', noImage: true }), name: 'x.dcm' }),
      (e: unknown) => e instanceof InputError && e.problem === 'not-an-image' && /a DICOM object of SOP class 1\.2\.3\.4 with neither Rows\/Columns nor Pixel Data/.test(e.message));
    await assert.rejects(loadGreyImage({ bytes: dicomFile({ rows: 4, columns: 4 }), name: 'y.dcm' }),
      (e: unknown) => e instanceof InputError && e.problem === 'corrupt' && /no Pixel Data \(7FE0,0010\)/.test(e.message));
  });
});

test('issue 12: meta carries the facts an input gate needs, and no identifier', async () => {
  const bytes = dicomFile({
    sopClass: SOP.dx, rows: 4, columns: 4, bitsAllocated: 8, photometric: 'MONOCHROME1', pixels: new Uint8Array(16),
    extra: [
      { tag: 0x00080008, vr: 'CS', value: 'ORIGINAL\\PRIMARY' },
      { tag: 0x00080050, vr: 'SH', value: 'ACC12345' },
      { tag: 0x00100010, vr: 'PN', value: 'DOE^JANE' },
      { tag: 0x00100020, vr: 'LO', value: 'PID-998877' },
      { tag: 0x00180015, vr: 'CS', value: 'CHEST' },
      { tag: 0x00185101, vr: 'CS', value: 'AP' },
      { tag: 0x0020000d, vr: 'UI', value: '1.2.826.0.1.3680043.8.498.77' },
    ],
  });
  const img = await loadGreyImage({ bytes, name: 'dx.dcm' });
  assert.equal(img.meta?.modality, 'CR');
  assert.equal(img.meta?.bodyPartExamined, 'CHEST');
  assert.equal(img.meta?.viewPosition, 'AP');
  assert.equal(img.meta?.photometric, 'MONOCHROME1');
  assert.equal(img.meta?.sopClassUid, SOP.dx);
  assert.equal(img.meta?.imageType, 'ORIGINAL\\PRIMARY');
  const text = JSON.stringify(img.meta);
  for (const secret of ['ACC12345', 'DOE', 'PID-998877', '1.2.826.0.1.3680043.8.498.77', '1.2.826.0.1.3680043.8.498.13']) assert.ok(!text.includes(secret), `meta leaks ${secret}`);
});
