// Reads the DICOM data set (dicom-parser) and collects the header facts the pixel pipeline needs.
//
// Tags read, and nothing else (no patient name, ID, birth date, accession number or UIDs ever
// leave this module; UIDs other than the Transfer Syntax are never read at all):
//   (0002,0010) Transfer Syntax UID
//   (0008,0060) Modality             (0018,5101) View Position
//   (0010,0040) Patient's Sex        (0010,1010) Patient's Age
//   (0028,0002) Samples per Pixel    (0028,0004) Photometric Interpretation
//   (0028,0008) Number of Frames     (0028,0010) Rows   (0028,0011) Columns
//   (0028,0100) Bits Allocated       (0028,0101) Bits Stored   (0028,0102) High Bit
//   (0028,0103) Pixel Representation
//   (0028,1050) Window Center        (0028,1051) Window Width   (0028,1056) VOI LUT Function
//   (0028,1052) Rescale Intercept    (0028,1053) Rescale Slope
//   (0028,3010) VOI LUT Sequence -> (0028,3002) LUT Descriptor, (0028,3006) LUT Data
//   (7FE0,0010) Pixel Data (position and length only)
import { createRequire } from 'node:module';
import { inflateRawSync } from 'node:zlib';
import type { DataSet, Element } from 'dicom-parser';
import { InputError } from '../../errors.js';

const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser');

export const TS_IMPLICIT_LE = '1.2.840.10008.1.2';
export const TS_EXPLICIT_LE = '1.2.840.10008.1.2.1';
export const TS_DEFLATED_LE = '1.2.840.10008.1.2.1.99';
export const TS_EXPLICIT_BE = '1.2.840.10008.1.2.2';

/** A VOI LUT from the VOI LUT Sequence: output = data[clamp(x - first)] / (2^bits - 1). */
export interface VoiLut {
  readonly first: number;
  readonly bits: number;
  readonly data: Uint16Array;
}

/** Everything about the image that the header says; no patient identifiers. */
export interface DicomHeader {
  readonly transferSyntax: string;
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: number;
  readonly numberOfFrames: number;
  readonly bitsAllocated: number;
  readonly bitsStored: number;
  readonly highBit: number;
  readonly pixelRepresentation: number;
  readonly photometric: string;
  readonly rescaleSlope: number;
  readonly rescaleIntercept: number;
  readonly windowCenter?: number;
  readonly windowWidth?: number;
  readonly voiLutFunction?: string;
  readonly voiLut?: VoiLut;
  readonly modality?: string;
  readonly viewPosition?: string;
  readonly patientSex?: string;
  readonly patientAge?: string;
}

/** The parsed data set: header facts plus where Pixel Data sits in `byteArray`. */
export interface ParsedDicom {
  readonly header: DicomHeader;
  /** The bytes the element offsets refer to (the inflated copy for deflated files). */
  readonly byteArray: Uint8Array;
  readonly pixelData?: Element;
}

/**
 * Parses the data set up to Pixel Data (whose value is read later, with bounds checks).
 * `maxInflated` caps the inflated size of deflated files (zip-bomb guard).
 * Throws InputError 'corrupt' when the bytes are no readable data set.
 */
export function parseDicom(bytes: Uint8Array, name: string, maxInflated: number): ParsedDicom {
  const hasPreamble = bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
  // Files without the Part 10 preamble start with a bare data set; explicit if bytes 4-5 spell a VR.
  const bareTs = !hasPreamble && bytes.length >= 6 && isUpper(bytes[4]) && isUpper(bytes[5]) ? TS_EXPLICIT_LE : TS_IMPLICIT_LE;
  const inflater = (arr: Uint8Array, position: number): Uint8Array => {
    let inflated: Buffer;
    try {
      inflated = inflateRawSync(arr.subarray(position), { maxOutputLength: maxInflated });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (/unexpected end/i.test(msg)) throw new InputError(name, 'truncated', 'deflated data set is truncated (the compressed stream ends early)', { cause: err });
      throw new InputError(name, 'corrupt', `deflated data set cannot be inflated (${msg})`, { cause: err });
    }
    const full = new Uint8Array(position + inflated.length);
    full.set(arr.subarray(0, position), 0);
    full.set(inflated, position);
    return full;
  };
  let ds: DataSet;
  try {
    ds = dicomParser.parseDicom(bytes, {
      untilTag: 'x7fe00010',
      inflater: inflater as unknown as (arr: Uint8Array, position: number) => void,
      ...(hasPreamble ? {} : { TransferSyntaxUID: bareTs }),
    });
  } catch (err) {
    if (err instanceof InputError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw new InputError(name, 'corrupt', `not a valid DICOM data set (${msg.replace(/^dicomParser[.:]\w*:?\s*/, '')})`, { cause: err });
  }
  try {
    return { header: readHeader(ds, name), byteArray: ds.byteArray as Uint8Array, pixelData: ds.elements.x7fe00010 };
  } catch (err) {
    if (err instanceof InputError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw new InputError(name, 'corrupt', `not a valid DICOM data set (header cannot be read: ${msg})`, { cause: err });
  }
}

function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}

function readHeader(ds: DataSet, name: string): DicomHeader {
  const transferSyntax = clean(ds.string('x00020010')) ?? '';
  const num = (tag: string, fallback: number): number => ds.uint16(tag) ?? fallback;
  const rows = num('x00280010', 0);
  const columns = num('x00280011', 0);
  if (rows === 0 || columns === 0 || ds.elements.x00280010 === undefined) {
    throw new InputError(name, 'corrupt', `not a valid DICOM image: Rows/Columns missing or zero (${rows}x${columns})`);
  }
  const bitsAllocated = num('x00280100', 0);
  const bitsStored = num('x00280101', bitsAllocated);
  const pixelRepresentation = num('x00280103', 0);
  const frames = ds.intString('x00280008');
  const slope = ds.floatString('x00281053');
  const intercept = ds.floatString('x00281052');
  const wc = ds.floatString('x00281050');
  const ww = ds.floatString('x00281051');
  return {
    transferSyntax,
    rows,
    columns,
    samplesPerPixel: num('x00280002', 1),
    numberOfFrames: frames !== undefined && Number.isFinite(frames) ? frames : 1,
    bitsAllocated,
    bitsStored,
    highBit: num('x00280102', bitsStored - 1),
    pixelRepresentation,
    photometric: (clean(ds.string('x00280004')) ?? '').toUpperCase(),
    rescaleSlope: slope !== undefined && Number.isFinite(slope) && slope !== 0 ? slope : 1,
    rescaleIntercept: intercept !== undefined && Number.isFinite(intercept) ? intercept : 0,
    ...(wc !== undefined && ww !== undefined && Number.isFinite(wc) && Number.isFinite(ww) ? { windowCenter: wc, windowWidth: ww } : {}),
    ...optional('voiLutFunction', clean(ds.string('x00281056'))?.toUpperCase()),
    ...optional('voiLut', readVoiLut(ds, pixelRepresentation)),
    ...optional('modality', code(ds.string('x00080060'))),
    ...optional('viewPosition', code(ds.string('x00185101'))),
    ...optional('patientSex', /^[MFO]$/.test(clean(ds.string('x00100040')) ?? '') ? clean(ds.string('x00100040')) : undefined),
    ...optional('patientAge', /^\d{3}[DWMY]$/.test(clean(ds.string('x00101010')) ?? '') ? clean(ds.string('x00101010')) : undefined),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Trims and drops control characters; undefined when empty. */
function clean(s: string | undefined): string | undefined {
  const t = s?.replace(/[^\x20-\x7e]/g, '').trim();
  return t ? t : undefined;
}

/** A short code string (CS): uppercase letters, digits, space and underscore, at most 16 chars. */
function code(s: string | undefined): string | undefined {
  const t = clean(s)?.toUpperCase();
  return t !== undefined && /^[A-Z0-9 _]{1,16}$/.test(t) ? t : undefined;
}

/** First item of the VOI LUT Sequence, if it is well formed. */
function readVoiLut(ds: DataSet, pixelRepresentation: number): VoiLut | undefined {
  const item = ds.elements.x00283010?.items?.[0]?.dataSet;
  if (!item) return undefined;
  const desc = item.elements.x00283002;
  const lutData = item.elements.x00283006;
  if (!desc || !lutData || desc.length < 6) return undefined;
  const n = item.uint16('x00283002', 0) || 65536;
  let first = item.uint16('x00283002', 1) ?? 0;
  if (pixelRepresentation === 1 && first > 32767) first -= 65536;
  const bits = item.uint16('x00283002', 2) ?? 16;
  if (bits < 1 || bits > 16) return undefined;
  const data = new Uint16Array(n);
  if (lutData.length >= 2 * n) {
    for (let i = 0; i < n; i++) data[i] = item.uint16('x00283006', i) ?? 0;
  } else if (bits <= 8 && lutData.length >= n) {
    for (let i = 0; i < n; i++) data[i] = item.byteArray[lutData.dataOffset + i];
  } else {
    return undefined;
  }
  return { first, bits, data };
}
