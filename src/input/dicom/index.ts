// DICOM reader: one single-frame MONOCHROME1/MONOCHROME2 image -> the pipeline's 8-bit grey image.
// Every check that can be made from the header (colour, frames, size, syntax, truncation) is
// made before any pixel is decoded; a decoded frame must have exactly Rows x Columns samples.
import { InputError } from '../../errors.js';
import type { LoadedImage } from '../grey-image.js';
import { compressedSyntaxName, decodeFrame, isSupportedCompressed } from './codecs.js';
import { parseDicom, TS_DEFLATED_LE, TS_EXPLICIT_BE, TS_EXPLICIT_LE, TS_IMPLICIT_LE, type DicomHeader } from './parse.js';
import { encapsulatedFrame, nativePixelBytes, toStoredValues, type StoredArray } from './pixel-data.js';
import { RleError } from './rle.js';
import { applyModalityLut, toDisplay8, type ModalityArray } from './voi.js';

export type { DicomHeader } from './parse.js';
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
  /** After the Modality LUT (rescale): `raw` itself when the rescale is identity, else Float64Array. */
  readonly values: ModalityArray;
}

/**
 * Parses and decodes a DICOM file to stored and modality values (no VOI), for one
 * single-sample MONOCHROME1/MONOCHROME2 frame. Throws InputError naming the file.
 */
export async function decodeDicom(bytes: Uint8Array, name: string, opts: { maxPixels: number }): Promise<DecodedDicom> {
  const maxInflated = Math.min(2 ** 31 - 1, opts.maxPixels * 4 + (16 << 20));
  const { header: h, byteArray, pixelData } = parseDicom(bytes, name, maxInflated);
  checkHeader(h, name, opts.maxPixels);
  if (!pixelData) throw new InputError(name, 'corrupt', 'not a valid DICOM image: no Pixel Data (7FE0,0010)');
  const n = h.rows * h.columns;
  const signed = h.pixelRepresentation === 1;
  let raw: StoredArray;
  if (h.transferSyntax in NATIVE) {
    const bps = h.bitsAllocated / 8;
    const px = nativePixelBytes(byteArray, pixelData, n * bps, name);
    raw = toStoredValues(px, n, bps, h.transferSyntax === TS_EXPLICIT_BE, h.bitsAllocated, h.bitsStored, signed);
  } else {
    const frame = encapsulatedFrame(byteArray, pixelData, name);
    const syntax = compressedSyntaxName(h.transferSyntax)!;
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
    raw = toStoredValues(dec.data, n, dec.bytesPerSample, false, h.bitsAllocated, h.bitsStored, signed);
  }
  return { header: h, raw, values: applyModalityLut(raw, h.rescaleSlope, h.rescaleIntercept) };
}

/** Header checks made before touching pixel data. */
function checkHeader(h: DicomHeader, name: string, maxPixels: number): void {
  if (h.samplesPerPixel !== 1 || (h.photometric !== 'MONOCHROME1' && h.photometric !== 'MONOCHROME2')) {
    throw new InputError(name, 'unsupported', `only MONOCHROME1/MONOCHROME2 single-sample images are supported (got ${h.photometric || 'no Photometric Interpretation'} with ${h.samplesPerPixel} sample(s) per pixel); a chest X-ray is greyscale`);
  }
  if (h.numberOfFrames !== 1) {
    throw new InputError(name, 'unsupported', `multi-frame images (${h.numberOfFrames} frames) are not supported; a chest X-ray is a single 2-D frame`);
  }
  if (h.rows * h.columns > maxPixels) {
    throw new InputError(name, 'too-large', `image is ${h.columns}x${h.rows} = ${h.rows * h.columns} pixels, over the limit of ${maxPixels} (checked before decoding; raise --max-pixels if this is a real radiograph)`);
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
 * Decodes a DICOM file into the pipeline's 8-bit grey image (see voi.ts for the display
 * mapping). `bitDepth` is BitsStored; `meta` holds modality, view position, patient sex and
 * age, photometric interpretation, transfer syntax and the VOI used, never identifiers.
 */
export async function decodeDicomToGrey(bytes: Uint8Array, name: string, opts: { maxPixels: number }): Promise<LoadedImage> {
  const { header: h, values } = await decodeDicom(bytes, name, opts);
  const { data, voi } = toDisplay8(values, h);
  const meta: Record<string, string | number> = {
    photometric: h.photometric,
    transferSyntax: h.transferSyntax,
    transferSyntaxName: NATIVE[h.transferSyntax] ?? compressedSyntaxName(h.transferSyntax) ?? h.transferSyntax,
    bitsAllocated: h.bitsAllocated,
    pixelRepresentation: h.pixelRepresentation,
    rescaleSlope: h.rescaleSlope,
    rescaleIntercept: h.rescaleIntercept,
    voi,
  };
  if (voi === 'window') {
    meta.windowCenter = h.windowCenter!;
    meta.windowWidth = h.windowWidth!;
  }
  for (const key of ['modality', 'viewPosition', 'patientSex', 'patientAge'] as const) {
    const v = h[key];
    if (v !== undefined) meta[key] = v;
  }
  return { width: h.columns, height: h.rows, data, format: 'dicom', bitDepth: h.bitsStored, meta };
}
