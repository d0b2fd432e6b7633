// DICOM reader: one single-frame MONOCHROME1/MONOCHROME2 image -> the pipeline's 8-bit grey image.
// Every check that can be made from the header (no image, colour, frames, size, syntax,
// truncation, and a compressed frame's own declared size) is made before any pixel is decoded; a
// decoded frame must have exactly Rows x Columns samples.
import { InputError } from '../../errors.js';
import type { LoadedImage } from '../grey-image.js';
import { codestreamKind, compressedSyntaxName, decodeFrame, isSupportedCompressed } from './codecs.js';
import { CodestreamError, readCodestreamSize } from './codestream.js';
import { describeNonImage } from './sop-classes.js';
import { parseDicom, TS_DEFLATED_LE, TS_EXPLICIT_BE, TS_EXPLICIT_LE, TS_IMPLICIT_LE, type DicomHeader } from './parse.js';
import { encapsulatedFrame, nativePixelBytes, toStoredValues, type StoredArray } from './pixel-data.js';
import { RleError } from './rle.js';
import { applyModalityLut, wordsToDisplay8, type ModalityArray, type SampleWords } from './voi.js';

export type { DicomHeader, Lut } from './parse.js';
export type { StoredArray } from './pixel-data.js';
export type { ModalityArray } from './voi.js';

const NATIVE: Record<string, string> = {
  [TS_IMPLICIT_LE]: 'Implicit VR Little Endian',
  [TS_EXPLICIT_LE]: 'Explicit VR Little Endian',
  [TS_DEFLATED_LE]: 'Deflated Explicit VR Little Endian',
  [TS_EXPLICIT_BE]: 'Explicit VR Big Endian',
};

/** A decoded DICOM image before display mapping. */
export interface DecodedDicom {
  readonly header: DicomHeader;
  /** Stored values, masked to BitsStored and sign-extended (dtype from BitsAllocated/PixelRepresentation). */
  readonly raw: StoredArray;
  /** After the Modality LUT (sequence or rescale): `raw` itself when it is the identity, else Float64Array. */
  readonly values: ModalityArray;
}

/**
 * Parses a DICOM file and returns its one frame's samples as they are stored (a view of the file
 * for uncompressed data, the codec's output otherwise), with the checked header.
 */
async function decodeSamples(bytes: Uint8Array, name: string, maxPixels: number): Promise<{ header: DicomHeader; samples: SampleWords }> {
  const maxInflated = Math.min(2 ** 31 - 1, maxPixels * 4 + (16 << 20));
  const { header: h, byteArray, pixelData } = await parseDicom(bytes, name, maxInflated);
  if (!pixelData) {
    const { problem, message } = describeNonImage(h);
    throw new InputError(name, problem, message);
  }
  checkHeader(h, name, maxPixels);
  const n = h.rows * h.columns;
  if (h.transferSyntax in NATIVE) {
    const bps = h.bitsAllocated / 8;
    return { header: h, samples: { bytes: nativePixelBytes(byteArray, pixelData, n * bps, name), n, bytesPerSample: bps, bigEndian: h.transferSyntax === TS_EXPLICIT_BE } };
  }
  const frame = encapsulatedFrame(byteArray, pixelData, name);
  const syntax = compressedSyntaxName(h.transferSyntax)!;
  checkCodestream(h, frame, name, syntax, maxPixels);
  let dec;
  try {
    dec = await decodeFrame(h.transferSyntax, frame, h);
  } catch (err) {
    if (err instanceof InputError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    const problem = err instanceof RleError ? 'corrupt' : /not supported/.test(msg) ? 'unsupported' : 'corrupt';
    throw new InputError(name, problem, `cannot decode the ${syntax} pixel data (${msg})`, { cause: err });
  }
  const expectBytes = n * dec.bytesPerSample;
  if (dec.width !== h.columns || dec.height !== h.rows || dec.components !== 1 || dec.data.length !== expectBytes || dec.bytesPerSample * 8 > Math.max(8, h.bitsAllocated)) {
    throw new InputError(name, 'corrupt', `cannot decode the ${syntax} pixel data: the decoder returned a ${dec.width}x${dec.height}x${dec.components} frame of ${dec.data.length} bytes, expected ${h.columns}x${h.rows}x1 (${expectBytes} bytes); the codestream is damaged or incomplete`);
  }
  return { header: h, samples: { bytes: dec.data, n, bytesPerSample: dec.bytesPerSample, bigEndian: false } };
}

/**
 * Parses and decodes a DICOM file to stored and modality values (no VOI), for one
 * single-sample MONOCHROME1/MONOCHROME2 frame. Throws InputError naming the file.
 * For analysis and tests: display decoding ({@link decodeDicomToGrey}) never builds these arrays.
 */
export async function decodeDicom(bytes: Uint8Array, name: string, opts: { maxPixels: number }): Promise<DecodedDicom> {
  const { header: h, samples: s } = await decodeSamples(bytes, name, opts.maxPixels);
  const raw = toStoredValues(s.bytes, s.n, s.bytesPerSample, s.bigEndian, h.bitsAllocated, h.bitsStored, h.pixelRepresentation === 1);
  return { header: h, raw, values: applyModalityLut(raw, h) };
}

/** Header checks made before touching pixel data. */
function checkHeader(h: DicomHeader, name: string, maxPixels: number): void {
  if (h.rows === 0 || h.columns === 0) {
    throw new InputError(name, 'corrupt', `not a valid DICOM image: Rows/Columns missing or zero (${h.rows}x${h.columns})`);
  }
  if (h.samplesPerPixel !== 1 || (h.photometric !== 'MONOCHROME1' && h.photometric !== 'MONOCHROME2')) {
    throw new InputError(name, 'unsupported', `only MONOCHROME1/MONOCHROME2 single-sample images are supported (got ${h.photometric || 'no Photometric Interpretation'} with ${h.samplesPerPixel} sample(s) per pixel); a chest X-ray is greyscale`);
  }
  if (h.numberOfFrames !== 1) {
    throw new InputError(name, 'unsupported', `multi-frame images (${h.numberOfFrames} frames) are not supported; a chest X-ray is a single 2-D frame`);
  }
  if (h.rows * h.columns > maxPixels) {
    throw new InputError(name, 'too-large', `image is ${h.columns}x${h.rows} = ${h.rows * h.columns} pixels, over the limit of ${maxPixels} (checked before decoding; raise the pixel limit if this is a real radiograph)`);
  }
  if (h.bitsAllocated !== 8 && h.bitsAllocated !== 16) {
    throw new InputError(name, 'unsupported', `Bits Allocated ${h.bitsAllocated} is not supported (only 8 or 16)`);
  }
  if (h.bitsStored < 1 || h.bitsStored > h.bitsAllocated) {
    throw new InputError(name, 'corrupt', `not a valid DICOM image: Bits Stored ${h.bitsStored} with Bits Allocated ${h.bitsAllocated}`);
  }
  if (!(h.transferSyntax in NATIVE) && !isSupportedCompressed(h.transferSyntax)) {
    throw new InputError(name, 'unsupported', `transfer syntax ${h.transferSyntax || '(none)'} cannot be decoded; supported: uncompressed, deflated, RLE, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000 and HTJ2K`);
  }
}

/**
 * A compressed frame's codestream states its own size, and a codec decodes what the codestream
 * says, whatever the header claims: read it first and refuse any disagreement before decoding.
 */
function checkCodestream(h: DicomHeader, frame: Uint8Array, name: string, syntax: string, maxPixels: number): void {
  const kind = codestreamKind(h.transferSyntax);
  if (kind === null) return; // RLE: its segments are decoded into a buffer of exactly Rows x Columns
  let cs;
  try {
    cs = readCodestreamSize(kind, frame);
  } catch (err) {
    if (!(err instanceof CodestreamError)) throw err;
    throw new InputError(name, 'corrupt', `cannot decode the ${syntax} pixel data: ${err.message}`, { cause: err });
  }
  const px = cs.width * cs.height;
  if (cs.width !== h.columns || cs.height !== h.rows) {
    const over = px > maxPixels ? `, ${px} pixels, over the limit of ${maxPixels}` : '';
    throw new InputError(name, px > maxPixels ? 'too-large' : 'corrupt',
      `the ${syntax} codestream declares a ${cs.width}x${cs.height} image${over}, but the DICOM header says ${h.columns}x${h.rows}; refused before decoding (the file is damaged or crafted)`);
  }
  if (cs.components !== 1) {
    throw new InputError(name, 'unsupported', `the ${syntax} codestream holds ${cs.components} colour components, but the header says one sample per pixel; refused before decoding`);
  }
}

/**
 * Decodes a DICOM file into the pipeline's 8-bit grey image (see voi.ts for the display
 * mapping). `bitDepth` is BitsStored; `meta` holds the header facts an input gate needs
 * (modality, body part, view position, SOP class, image type, photometric interpretation) and
 * patient sex and age, the transfer syntax and the VOI used, never identifiers.
 */
export async function decodeDicomToGrey(bytes: Uint8Array, name: string, opts: { maxPixels: number }): Promise<LoadedImage> {
  const { header: h, samples } = await decodeSamples(bytes, name, opts.maxPixels);
  const { data, voi } = wordsToDisplay8(samples, h);
  const meta: Record<string, string | number> = {
    photometric: h.photometric,
    transferSyntax: h.transferSyntax,
    transferSyntaxName: NATIVE[h.transferSyntax] ?? compressedSyntaxName(h.transferSyntax) ?? h.transferSyntax,
    bitsAllocated: h.bitsAllocated,
    pixelRepresentation: h.pixelRepresentation,
    rescaleSlope: h.rescaleSlope,
    rescaleIntercept: h.rescaleIntercept,
    modalityLut: h.modalityLut ? 'sequence' : h.rescaleSlope !== 1 || h.rescaleIntercept !== 0 ? 'rescale' : 'identity',
    voi,
  };
  if (voi === 'window') {
    meta.windowCenter = h.windowCenter!;
    meta.windowWidth = h.windowWidth!;
  }
  for (const key of ['modality', 'bodyPartExamined', 'viewPosition', 'sopClassUid', 'imageType', 'patientSex', 'patientAge'] as const) {
    const v = h[key];
    if (v !== undefined) meta[key] = v;
  }
  return { width: h.columns, height: h.rows, data, format: 'dicom', bitDepth: h.bitsStored, meta };
}
