// The DICOM reader against the shared conformance fixtures and their decode oracle
// (/work/shared/data/dicom/README.md): header facts, raw sha256, modality values vs the .npy,
// display mapping, same-image invariants, the five bad files, and loadGreyImage dispatch.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { InputError } from '../src/errors.js';
import { decodeDicom, decodeDicomToGrey, type DecodedDicom } from '../src/input/dicom/index.js';
import type { LoadedImage } from '../src/input/grey-image.js';
import { loadGreyImage } from '../src/input/load-image.js';
import { sniffFormat } from '../src/input/sniff.js';
import { BAD_INPUTS_DIR, DICOM_DIR, goodFixtures, readFacts, readFixture, readNpy } from './helpers/dicom-oracle.js';

const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser');
const LIMIT = { maxPixels: 100_000_000 };

// Decode each file once (the RG2/RG3 files are 3-4 megapixels) and reuse.
const decoded = new Map<string, Promise<DecodedDicom>>();
const displayed = new Map<string, Promise<LoadedImage>>();
const dec = (f: string): Promise<DecodedDicom> => {
  if (!decoded.has(f)) decoded.set(f, decodeDicom(readFixture(f), f, LIMIT));
  return decoded.get(f)!;
};
const show = (f: string): Promise<LoadedImage> => {
  if (!displayed.has(f)) displayed.set(f, decodeDicomToGrey(readFixture(f), f, LIMIT));
  return displayed.get(f)!;
};
const sha256 = (a: ArrayBufferView): string => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
const DTYPE: Record<string, string> = { Uint8Array: '|u1', Uint16Array: '<u2', Int16Array: '<i2' };

/** Lossy syntaxes decoded by third-party codecs: a different IDCT/wavelet build may differ by a level or two (README). */
const LOSSY_TOLERANCE = 2;
/** The 12-bit JPEG goes through our IJG-islow port, which is bit-exact with GDCM/dcmtk: held exactly. */
const EXACT_LOSSY = new Set(['ts-jpeg-extended-12bit-cr.dcm']);

const good = goodFixtures();
test('the oracle lists 16 good files', () => assert.equal(good.length, 16));

for (const file of good) {
  test(`${file}: decodes to the oracle`, async () => {
    const facts = readFacts(file);
    const d = await dec(file);
    const h = d.header;
    assert.equal(h.rows, facts.rows);
    assert.equal(h.columns, facts.columns);
    assert.equal(h.bitsAllocated, facts.bits_allocated);
    assert.equal(h.bitsStored, facts.bits_stored);
    assert.equal(h.pixelRepresentation, facts.pixel_representation);
    assert.equal(h.photometric, facts.photometric_interpretation);
    assert.equal(h.transferSyntax, facts.transfer_syntax_uid);
    assert.equal(h.rescaleSlope, facts.rescale_slope ?? 1);
    assert.equal(h.rescaleIntercept, facts.rescale_intercept ?? 0);
    assert.equal(h.windowCenter, facts.window_center ?? undefined);
    assert.equal(h.voiLut !== undefined, facts.has_voi_lut_sequence);
    assert.equal(DTYPE[d.raw.constructor.name], facts.raw.dtype);
    const npy = readNpy(file);
    assert.deepEqual(npy.shape, [facts.rows, facts.columns]);
    assert.equal(d.values.length, npy.values.length);
    let maxDiff = 0;
    for (let i = 0; i < npy.values.length; i++) maxDiff = Math.max(maxDiff, Math.abs(d.values[i] - npy.values[i]));
    if (!facts.lossy_transfer_syntax || EXACT_LOSSY.has(file)) {
      assert.equal(sha256(d.raw), facts.raw.sha256, 'raw sha256');
      assert.ok(maxDiff < 1e-9, `modality values differ from the .npy by ${maxDiff}`);
    } else {
      assert.ok(maxDiff <= LOSSY_TOLERANCE, `lossy decode differs from the oracle by ${maxDiff} (> ${LOSSY_TOLERANCE})`);
    }
  });
}

test('display image: size, bitDepth, meta, and mean close to the oracle presentation image', async () => {
  for (const file of good) {
    const facts = readFacts(file);
    const img = await show(file);
    assert.equal(img.format, 'dicom');
    assert.equal(img.width, facts.columns);
    assert.equal(img.height, facts.rows);
    assert.equal(img.data.length, facts.rows * facts.columns);
    assert.equal(img.bitDepth, facts.bits_stored);
    assert.equal(img.meta?.photometric, facts.photometric_interpretation);
    assert.equal(img.meta?.transferSyntax, facts.transfer_syntax_uid);
    assert.equal(img.meta?.modality, facts.modality ?? undefined);
    let s = 0;
    for (const v of img.data) s += v;
    // 8-bit quantisation moves the mean by at most half a level.
    assert.ok(Math.abs(s / img.data.length / 255 - facts.display.mean) < 0.003, `${file}: display mean ${s / img.data.length / 255} vs ${facts.display.mean}`);
  }
});

test('MONOCHROME1: fake-monochrome1 displays as the exact negative of the rsna image', async () => {
  const pos = await show('rsna-monochrome2-jpeg-baseline.dcm');
  const neg = await show('fake-monochrome1.dcm');
  assert.equal(sha256((await dec('fake-monochrome1.dcm')).raw), sha256((await dec('rsna-monochrome2-jpeg-baseline.dcm')).raw));
  let distinct = 0;
  for (let i = 0; i < pos.data.length; i++) {
    assert.equal(neg.data[i], 255 - pos.data[i]);
    if (pos.data[i] !== pos.data[0]) distinct++;
  }
  assert.ok(distinct > 1000, 'not a flat image');
});

test('same-image invariants: MR_small trio and RG3 J2K/HTJ2K are identical; J2K lossy within 9', async () => {
  const mr = await Promise.all(['ts-implicit-vr-le-mr-16bit-signed.dcm', 'ts-explicit-vr-be-mr-16bit-signed.dcm', 'ts-rle-lossless-mr-16bit-signed.dcm'].map(dec));
  assert.equal(sha256(mr[1].raw), sha256(mr[0].raw));
  assert.equal(sha256(mr[2].raw), sha256(mr[0].raw));
  const [j2k, ht, lossy] = await Promise.all(['ts-jpeg2000-lossless-cr-monochrome1-10bit.dcm', 'ts-htj2k-lossless-rpcl-cr-monochrome1-10bit.dcm', 'ts-jpeg2000-lossy-cr-monochrome1-10bit.dcm'].map(dec));
  assert.equal(sha256(ht.raw), sha256(j2k.raw));
  let m = 0;
  for (let i = 0; i < j2k.raw.length; i++) m = Math.max(m, Math.abs(j2k.raw[i] - lossy.raw[i]));
  assert.equal(m, 9);
});

test('JPEG-LS 15-bit signed is sign-extended (pydicom reference values)', async () => {
  const d = await dec('ts-jpegls-lossless-16bit-15stored-signed.dcm');
  const col = [59, 60, 61, 62, 63, 64].map((r) => d.raw[r * 128 + 58]);
  assert.deepEqual(col, [-2073, -2629, -1167, 5566, 11808, 15604]);
});

test('windowing, rescale and inversion of the 16x16 CR follow PS3.3 LINEAR exactly', async () => {
  const d = await dec('cr-monochrome1-rescale-window-16x16.dcm');
  const img = await show('cr-monochrome1-rescale-window-16x16.dcm');
  for (let i = 0; i < 256; i++) {
    const x = d.raw[i] * 0.684 + 200;
    const y = Math.min(1, Math.max(0, (x - 1599.5) / 2799 + 0.5));
    assert.equal(img.data[i], 255 - Math.round(y * 255));
  }
  assert.equal(img.meta?.voi, 'window');
});

test('meta carries no patient identifiers', async () => {
  const allowed = new Set(['photometric', 'transferSyntax', 'transferSyntaxName', 'bitsAllocated', 'pixelRepresentation', 'rescaleSlope',
    'rescaleIntercept', 'modalityLut', 'voi', 'windowCenter', 'windowWidth', 'modality', 'bodyPartExamined', 'viewPosition', 'sopClassUid',
    'imageType', 'patientSex', 'patientAge']);
  for (const file of good) {
    const img = await show(file);
    for (const k of Object.keys(img.meta ?? {})) assert.ok(allowed.has(k), `${file}: unexpected meta key ${k}`);
    const ds = dicomParser.parseDicom(Buffer.from(readFixture(file)), { untilTag: 'x7fe00010' });
    const text = JSON.stringify(img.meta);
    for (const tag of ['x00100010', 'x00100020', 'x00100030', 'x00080050', 'x0020000d', 'x0020000e', 'x00080018']) {
      const v = ds.string(tag);
      if (v && v.length > 3) assert.ok(!text.includes(v), `${file}: meta leaks ${tag}`);
    }
  }
  const rsna = await show('rsna-monochrome2-jpeg-baseline.dcm');
  assert.equal(rsna.meta?.viewPosition, 'PA');
  assert.equal(rsna.meta?.patientSex, 'M');
});

/** Files whose 128-byte preamble is a TIFF header ("II*\0", dual-personality DICOM/TIFF). */
const TIFF_PREAMBLE = new Set(['bad-truncated-native-pixel-data.dcm', 'ts-explicit-vr-be-mr-16bit-signed.dcm',
  'ts-explicit-vr-le-ct-16bit-signed-rescale.dcm', 'ts-implicit-vr-le-mr-16bit-signed.dcm', 'ts-rle-lossless-mr-16bit-signed.dcm']);

test('DICOM with a TIFF preamble (dual-personality file) is sniffed as DICOM', async () => {
  for (const file of TIFF_PREAMBLE) {
    assert.equal(sniffFormat(readFixture(file)), 'dicom', file);
  }
  await assert.rejects(loadGreyImage(DICOM_DIR + 'bad-truncated-native-pixel-data.dcm'), (e: unknown) => e instanceof InputError && e.problem === 'truncated');
});

const BAD: Array<[string, string, RegExp]> = [
  ['bad-truncated-native-pixel-data.dcm', 'truncated', /truncated: expected 8192 bytes, got 8130/],
  ['bad-truncated-jpeg2000-fragment.dcm', 'truncated', /pixel data is truncated: fragment \d+ declares 65536 bytes/],
  ['bad-dicm-then-garbage.dcm', 'corrupt', /not a valid DICOM file: the file meta information has no Transfer Syntax UID \(0002,0010\)/],
  ['bad-multiframe-10-frames.dcm', 'unsupported', /multi-frame images \(10 frames\) are not supported/],
  ['bad-color-rgb.dcm', 'unsupported', /only MONOCHROME1\/MONOCHROME2 single-sample images are supported \(got RGB/],
];
for (const [file, problem, message] of BAD) {
  test(`${file} is rejected as ${problem}, through loadGreyImage too`, async () => {
    const check = (err: unknown): boolean => {
      assert.ok(err instanceof InputError, `not an InputError: ${String(err)}`);
      assert.equal(err.problem, problem);
      assert.match(err.message, message);
      assert.ok(err.message.includes(file), 'message names the file');
      return true;
    };
    await assert.rejects(decodeDicomToGrey(readFixture(file), file, LIMIT), check);
    const path = DICOM_DIR + file;
    await assert.rejects(loadGreyImage(path), (err: unknown) => err instanceof InputError && err.problem === problem && err.message.startsWith(path));
  });
}

test('over the pixel limit is rejected before decoding', async () => {
  const file = 'ts-jpeg2000-lossless-cr-monochrome1-10bit.dcm';
  await assert.rejects(decodeDicomToGrey(readFixture(file), file, { maxPixels: 1_000_000 }),
    (e: unknown) => e instanceof InputError && e.problem === 'too-large' && /1760x1760 = 3097600 pixels, over the limit of 1000000/.test(e.message));
});

test('an unknown transfer syntax is unsupported', async () => {
  const bytes = readFixture('ts-explicit-vr-le-ct-16bit-signed-rescale.dcm').slice();
  const from = Buffer.from('1.2.840.10008.1.2.1\0');
  const at = Buffer.from(bytes).indexOf(from);
  assert.ok(at > 0);
  bytes.set(Buffer.from('1.2.840.10008.1.2.7\0'), at);
  await assert.rejects(decodeDicomToGrey(bytes, 'x.dcm', LIMIT), (e: unknown) => e instanceof InputError && e.problem === 'unsupported' && /transfer syntax 1\.2\.840\.10008\.1\.2\.7 cannot be decoded/.test(e.message));
});

test('a J2K codestream cut short inside well-formed encapsulation is an error, not a blank image', async () => {
  const file = 'ts-jpeg2000-lossless-cr-monochrome1-10bit.dcm';
  const src = readFixture(file);
  const el = dicomParser.parseDicom(src, { untilTag: 'x7fe00010' }).elements.x7fe00010;
  const frame = dicomParser.readEncapsulatedPixelDataFromFragments(dicomParser.parseDicom(src), dicomParser.parseDicom(src).elements.x7fe00010, 0, el.fragments?.length);
  const cut = frame.subarray(0, 30000);
  const item = (len: number, elem: number): Uint8Array => {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(0xfffe, 0);
    b.writeUInt16LE(elem, 2);
    b.writeUInt32LE(len, 4);
    return b;
  };
  const bytes = Buffer.concat([src.subarray(0, el.dataOffset), item(0, 0xe000), item(cut.length, 0xe000), cut, item(0, 0xe0dd)]);
  await assert.rejects(decodeDicomToGrey(bytes, 'cut.dcm', LIMIT), (e: unknown) => e instanceof InputError && e.problem === 'corrupt' && /cut\.dcm: cannot decode the JPEG 2000 Lossless pixel data/.test(e.message));
});

test('loadGreyImage reads a .dcm by path and by bytes without an extension (content sniffing)', async () => {
  const file = 'cr-monochrome1-rescale-window-16x16.dcm';
  const byPath = await loadGreyImage(DICOM_DIR + file);
  const byBytes = await loadGreyImage({ bytes: readFixture(file), name: 'upload' });
  const direct = await show(file);
  assert.equal(byPath.format, 'dicom');
  assert.deepEqual(byPath.data, direct.data);
  assert.deepEqual(byBytes.data, direct.data);
  // The implicit-VR MR file without its 128-byte preamble and DICM is still found by content.
  const mr = readFixture('ts-implicit-vr-le-mr-16bit-signed.dcm');
  const ds = dicomParser.parseDicom(mr, { untilTag: 'x7fe00010' });
  const metaEnd = Object.values(ds.elements).filter((e) => e.tag < 'x00030000').reduce((m, e) => Math.max(m, e.dataOffset + e.length), 0);
  const bare = mr.subarray(metaEnd);
  assert.equal(sniffFormat(bare), 'dicom');
  const fromBare = await loadGreyImage({ bytes: bare, name: 'bare' });
  assert.deepEqual(fromBare.data, (await show('ts-implicit-vr-le-mr-16bit-signed.dcm')).data);
});

test('shared bad-inputs reject-* files are still rejected through loadGreyImage', async () => {
  for (const f of ['reject-bomb-30000x30000.png', 'reject-empty.png', 'reject-text-not-image.png', 'reject-truncated.jpg', 'reject-truncated.png']) {
    await assert.rejects(loadGreyImage(BAD_INPUTS_DIR + f), (e: unknown) => e instanceof InputError && e.message.includes(f), f);
  }
});
