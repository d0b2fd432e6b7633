// Reads the DICOM data set (dicom-parser) and collects the header facts the pixel pipeline and the
// input gate need.
//
// Tags read, and nothing else (no patient name, ID, birth date, accession number or instance UIDs
// ever leave this module; of the UIDs only the Transfer Syntax and the SOP Class are read):
//   (0002,0002) Media Storage SOP Class UID   (0002,0010) Transfer Syntax UID
//   (0008,0008) Image Type           (0008,0016) SOP Class UID
//   (0008,0060) Modality             (0018,0015) Body Part Examined   (0018,5101) View Position
//   (0010,0040) Patient's Sex        (0010,1010) Patient's Age
//   (0028,0002) Samples per Pixel    (0028,0004) Photometric Interpretation
//   (0028,0008) Number of Frames     (0028,0010) Rows   (0028,0011) Columns
//   (0028,0100) Bits Allocated       (0028,0101) Bits Stored   (0028,0102) High Bit
//   (0028,0103) Pixel Representation
//   (0028,1050) Window Center        (0028,1051) Window Width   (0028,1056) VOI LUT Function
//   (0028,1052) Rescale Intercept    (0028,1053) Rescale Slope
//   (0028,3000) Modality LUT Sequence, (0028,3010) VOI LUT Sequence -> (0028,3002) LUT Descriptor, (0028,3006) LUT Data
//   (7FE0,0010) Pixel Data (position and length only)
import type { DataSet, Element } from 'dicom-parser';
import { InputError } from '../../errors.js';
import { bytesText } from '../../util/bytes.js';
import { dicomParser, inflateRawPass } from './runtime.js';

export const TS_IMPLICIT_LE = '1.2.840.10008.1.2';
export const TS_EXPLICIT_LE = '1.2.840.10008.1.2.1';
export const TS_DEFLATED_LE = '1.2.840.10008.1.2.1.99';
export const TS_EXPLICIT_BE = '1.2.840.10008.1.2.2';

/**
 * A lookup table from the Modality LUT Sequence or the VOI LUT Sequence (PS3.3 C.11.1, C.11.2):
 * input x maps to data[clamp(x - first, 0, n - 1)]; entries have `bits` bits.
 */
export interface Lut {
  readonly first: number;
  readonly bits: number;
  readonly data: Uint16Array;
}

/** Everything about the image that the header says; no patient identifiers. */
export interface DicomHeader {
  readonly transferSyntax: string;
  /** 0 when the data set has no Rows/Columns (no image). */
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
  /** Modality LUT Sequence (first item); when present it replaces the rescale (PS3.3 C.11.1). */
  readonly modalityLut?: Lut;
  readonly windowCenter?: number;
  readonly windowWidth?: number;
  readonly voiLutFunction?: string;
  readonly voiLut?: Lut;
  readonly modality?: string;
  readonly bodyPartExamined?: string;
  readonly viewPosition?: string;
  /** SOP Class UID (what kind of object this is: CR image, DX image, SR document, ...), from the data set or the file meta. */
  readonly sopClassUid?: string;
  /** Image Type values joined with a backslash, e.g. ORIGINAL\PRIMARY. */
  readonly imageType?: string;
  readonly patientSex?: string;
  readonly patientAge?: string;
}

/** The parsed data set: header facts plus where Pixel Data sits in `byteArray`. */
export interface ParsedDicom {
  readonly header: DicomHeader;
  /** The bytes the element offsets refer to (the inflated data set for deflated files). */
  readonly byteArray: Uint8Array;
  readonly pixelData?: Element;
}

/**
 * Parses the data set up to Pixel Data (whose value is read later, with bounds checks).
 * `maxInflated` caps the inflated size of deflated files (zip-bomb guard); they are inflated off
 * the event loop, into one buffer of the exact size.
 * Throws InputError 'truncated' or 'corrupt', in words, when the bytes are no readable data set.
 */
export async function parseDicom(bytes: Uint8Array, name: string, maxInflated: number): Promise<ParsedDicom> {
  const hasPreamble = bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
  // Files without the Part 10 preamble start with a bare data set; explicit if bytes 4-5 spell a VR.
  const bareTs = !hasPreamble && bytes.length >= 6 && isUpper(bytes[4]) && isUpper(bytes[5]) ? TS_EXPLICIT_LE : TS_IMPLICIT_LE;
  let meta: DataSet | undefined;
  let inflated: Uint8Array | undefined;
  if (hasPreamble) {
    try {
      meta = dicomParser.readPart10Header(bytes);
    } catch (err) {
      throw parserError(name, err, bytes.length, 'file meta information');
    }
    const ts = clean(meta.string('x00020010'));
    if (ts === undefined) throw new InputError(name, 'corrupt', 'not a valid DICOM file: the file meta information has no Transfer Syntax UID (0002,0010)');
    if (ts === TS_DEFLATED_LE) inflated = await inflateDataSet(bytes.subarray((meta as DataSet & { position: number }).position), name, maxInflated);
  }
  let ds: DataSet;
  try {
    ds = dicomParser.parseDicom(bytes, {
      untilTag: 'x7fe00010',
      // dicom-parser parses the inflater's result from offset 0: hand it the data set alone
      ...(inflated ? { inflater: (() => inflated) as unknown as (arr: Uint8Array, position: number) => void } : {}),
      ...(hasPreamble ? {} : { TransferSyntaxUID: bareTs }),
    });
  } catch (err) {
    throw parserError(name, err, (inflated ?? bytes).length, inflated ? 'inflated data set' : 'data set');
  }
  try {
    return { header: readHeader(ds, meta, bareTs), byteArray: ds.byteArray as Uint8Array, pixelData: ds.elements.x7fe00010 };
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(name, 'corrupt', `not a valid DICOM data set: its header cannot be read (${describeThrown(err)})`, { cause: err });
  }
}

/**
 * Inflates a deflated data set in two streaming passes, off the event loop: the first only
 * counts (and stops past `max`), the second writes into a buffer of exactly that size, so the
 * inflated bytes exist once (zlib's one-shot API holds them twice while joining its chunks).
 */
async function inflateDataSet(deflated: Uint8Array, name: string, max: number): Promise<Uint8Array> {
  const pass = (sink: (chunk: Uint8Array) => boolean) => inflateRawPass(deflated, sink);
  let total = 0;
  try {
    await pass((c) => (total += c.length) <= max);
    if (total > max) {
      throw new InputError(name, 'too-large', `the deflated data set inflates to more than ${bytesText(max)}, more than an image within the pixel limit needs (a decompression bomb?)`);
    }
    const out = new Uint8Array(total);
    let at = 0;
    await pass((c) => {
      out.set(c.subarray(0, Math.min(c.length, total - at)), at);
      at += c.length;
      return at < total;
    });
    return out;
  } catch (err) {
    if (err instanceof InputError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    if (/unexpected end/i.test(msg)) throw new InputError(name, 'truncated', 'the deflated data set is truncated (the compressed stream ends early)', { cause: err });
    throw new InputError(name, 'corrupt', `the deflated data set cannot be inflated (${msg})`, { cause: err });
  }
}

/** dicom-parser throws strings, Errors and {exception, dataSet} objects: always a sentence here. */
function describeThrown(err: unknown): string {
  const inner = typeof err === 'object' && err !== null && 'exception' in err ? (err as { exception: unknown }).exception : err;
  const text = inner instanceof Error ? inner.message : typeof inner === 'string' ? inner : JSON.stringify(inner) ?? String(inner);
  return text.replace(/^dicomParser[.:][\w.]*:?\s*/, '').replace(/^[\w.]+ByteArrayParser\.\w+:\s*/, '');
}

/** The element the parser had reached when it failed: the one whose value starts last. */
function lastElement(err: unknown): Element | undefined {
  const ds = typeof err === 'object' && err !== null && 'dataSet' in err ? (err as { dataSet?: DataSet }).dataSet : undefined;
  let last: Element | undefined;
  for (const el of Object.values(ds?.elements ?? {})) if (!last || el.dataOffset > last.dataOffset) last = el;
  return last;
}

function tagName(tag: string): string {
  return `(${tag.slice(1, 5).toUpperCase()},${tag.slice(5, 9).toUpperCase()})`;
}

/** Turns a dicom-parser failure into an InputError that says what is wrong and where. */
function parserError(name: string, err: unknown, size: number, part: string): InputError {
  if (err instanceof InputError) return err;
  const why = describeThrown(err);
  const last = lastElement(err);
  const after = last ? ` after element ${tagName(last.tag)} at offset ${last.dataOffset}` : '';
  if (/past end of buffer|buffer overread|cannot be greater than or equal to .*length/.test(why)) {
    return new InputError(name, 'truncated', `the DICOM ${part} is truncated: it ends at byte ${size}, in the middle of an element${after}`, { cause: err });
  }
  if (/buffer overrun/.test(why)) {
    const where = last ? `element ${tagName(last.tag)} at offset ${last.dataOffset} declares ${last.length} bytes, past the end at byte ${size}` : `an element runs past the end at byte ${size}`;
    return new InputError(name, 'truncated', `the DICOM ${part} is truncated or damaged: buffer overrun (${where})`, { cause: err });
  }
  const item = /item tag \(FFFE,E000\) not found at offset (\d+)/.exec(why);
  if (item) return new InputError(name, 'corrupt', `not a valid DICOM ${part}: a sequence item starts with the wrong tag at offset ${item[1]} (expected an Item, FFFE,E000)${after}`, { cause: err });
  if (/basic offset table not found/.test(why)) return new InputError(name, 'corrupt', `not a valid DICOM ${part}: encapsulated Pixel Data does not start with a Basic Offset Table item`, { cause: err });
  if (/less than 0|< 0/.test(why)) return new InputError(name, 'corrupt', `not a valid DICOM ${part}: an element length points outside the file${after}`, { cause: err });
  if (/missing required meta header attribute 0002,0010/.test(why)) return new InputError(name, 'corrupt', 'not a valid DICOM file: the file meta information has no Transfer Syntax UID (0002,0010)', { cause: err });
  return new InputError(name, 'corrupt', `not a valid DICOM ${part} (${why}${after})`, { cause: err });
}

function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}

function readHeader(ds: DataSet, meta: DataSet | undefined, bareTs: string): DicomHeader {
  const transferSyntax = (meta ? clean(meta.string('x00020010')) : bareTs) ?? '';
  const num = (tag: string, fallback: number): number => ds.uint16(tag) ?? fallback;
  const bitsAllocated = num('x00280100', 0);
  const bitsStored = num('x00280101', bitsAllocated);
  const pixelRepresentation = num('x00280103', 0);
  const frames = ds.intString('x00280008');
  const slope = ds.floatString('x00281053');
  const intercept = ds.floatString('x00281052');
  const wc = ds.floatString('x00281050');
  const ww = ds.floatString('x00281051');
  const sop = uid(ds.string('x00080016')) ?? (meta ? uid(meta.string('x00020002')) : undefined);
  const imageType = ds.string('x00080008')?.split('\\').map(code).filter((v): v is string => v !== undefined).join('\\');
  return {
    transferSyntax,
    rows: num('x00280010', 0),
    columns: num('x00280011', 0),
    samplesPerPixel: num('x00280002', 1),
    numberOfFrames: frames !== undefined && Number.isFinite(frames) ? frames : 1,
    bitsAllocated,
    bitsStored,
    highBit: num('x00280102', bitsStored - 1),
    pixelRepresentation,
    photometric: (clean(ds.string('x00280004')) ?? '').toUpperCase(),
    rescaleSlope: slope !== undefined && Number.isFinite(slope) && slope !== 0 ? slope : 1,
    rescaleIntercept: intercept !== undefined && Number.isFinite(intercept) ? intercept : 0,
    ...optional('modalityLut', readLut(ds, 'x00283000', pixelRepresentation)),
    ...(wc !== undefined && ww !== undefined && Number.isFinite(wc) && Number.isFinite(ww) ? { windowCenter: wc, windowWidth: ww } : {}),
    ...optional('voiLutFunction', clean(ds.string('x00281056'))?.toUpperCase()),
    ...optional('voiLut', readLut(ds, 'x00283010', pixelRepresentation)),
    ...optional('modality', code(ds.string('x00080060'))),
    ...optional('bodyPartExamined', code(ds.string('x00180015'))),
    ...optional('viewPosition', code(ds.string('x00185101'))),
    ...optional('sopClassUid', sop),
    ...optional('imageType', imageType ? imageType : undefined),
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

/** A UID (digits and dots, at most 64 characters). */
function uid(s: string | undefined): string | undefined {
  const t = clean(s)?.replace(/\0/g, '');
  return t !== undefined && /^[0-9]+(\.[0-9]+)*$/.test(t) && t.length <= 64 ? t : undefined;
}

/**
 * First item of a Modality or VOI LUT Sequence, if it is well formed. The descriptor is
 * [entries (0 = 65536), first value mapped (signed when the pixels are), bits per entry]; 8-bit
 * entries may be stored one per 16-bit word or packed two per word.
 */
function readLut(ds: DataSet, sequenceTag: string, pixelRepresentation: number): Lut | undefined {
  const item = ds.elements[sequenceTag]?.items?.[0]?.dataSet;
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
