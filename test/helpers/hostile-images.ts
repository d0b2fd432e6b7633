// Makes hostile and unusual image files in memory, for the attack tests and bench/input-bombs.ts:
// a minimal explicit-VR little-endian DICOM writer (deflated on request, encapsulated frames,
// sequences), real JPEG 2000 / HTJ2K / JPEG-LS codestreams from the cornerstone encoders, and
// decompression bombs (tiny files that decode to 100 megapixels).
import { createRequire } from 'node:module';
import { deflateRawSync } from 'node:zlib';
import sharp from 'sharp';

const require = createRequire(import.meta.url);

/** One data element: tag as 0xGGGGEEEE, a VR, and its value (strings are padded; numbers by VR). */
export interface El {
  tag: number;
  vr: string;
  value: string | number | number[] | Uint8Array | El[][];
}

const LONG_VRS = new Set(['OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'SQ', 'UT', 'UN', 'UC', 'UR']);

function u16(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, (v >> 8) & 0xff]);
}
function u32(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
}
function cat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function valueBytes(e: El): Uint8Array {
  const v = e.value;
  if (v instanceof Uint8Array) return v.length % 2 ? cat([v, new Uint8Array(1)]) : v;
  if (typeof v === 'string') {
    const s = Buffer.from(v, 'latin1');
    return s.length % 2 ? cat([s, new Uint8Array([e.vr === 'UI' ? 0 : 0x20])]) : new Uint8Array(s);
  }
  if (e.vr === 'SQ') throw new Error('sequences are written by element()');
  const nums = typeof v === 'number' ? [v] : (v as number[]);
  if (e.vr === 'US' || e.vr === 'SS' || e.vr === 'OW') {
    const out = new Uint8Array(nums.length * 2);
    const dv = new DataView(out.buffer);
    nums.forEach((n, i) => (e.vr === 'SS' ? dv.setInt16(i * 2, n, true) : dv.setUint16(i * 2, n & 0xffff, true)));
    return out;
  }
  if (e.vr === 'UL') return cat(nums.map((n) => u32(n)));
  throw new Error(`no numeric writer for VR ${e.vr}`);
}

/** Encodes one element (explicit VR little endian); sequences get defined lengths. */
export function element(e: El): Uint8Array {
  const head = cat([u16(e.tag >>> 16), u16(e.tag & 0xffff), new Uint8Array(Buffer.from(e.vr, 'latin1'))]);
  let body: Uint8Array;
  if (e.vr === 'SQ') {
    const items = (e.value as El[][]).map((item) => {
      const inner = cat(item.map(element));
      return cat([u16(0xfffe), u16(0xe000), u32(inner.length), inner]);
    });
    body = cat(items);
  } else {
    body = valueBytes(e);
  }
  return LONG_VRS.has(e.vr) ? cat([head, new Uint8Array(2), u32(body.length), body]) : cat([head, u16(body.length), body]);
}

/** Encapsulated Pixel Data (undefined length): empty Basic Offset Table, one fragment per frame, delimiter. */
export function encapsulated(frames: Uint8Array[]): Uint8Array {
  const items = frames.map((f) => {
    const even = f.length % 2 ? cat([f, new Uint8Array(1)]) : f;
    return cat([u16(0xfffe), u16(0xe000), u32(even.length), even]);
  });
  return cat([u16(0x7fe0), u16(0x0010), new Uint8Array(Buffer.from('OB')), new Uint8Array(2), u32(0xffffffff),
    u16(0xfffe), u16(0xe000), u32(0), ...items, u16(0xfffe), u16(0xe0dd), u32(0)]);
}

export const TS = {
  explicitLE: '1.2.840.10008.1.2.1',
  deflated: '1.2.840.10008.1.2.1.99',
  j2kLossless: '1.2.840.10008.1.2.4.90',
  htj2kLossless: '1.2.840.10008.1.2.4.201',
  jpegLsLossless: '1.2.840.10008.1.2.4.80',
} as const;

export const SOP = {
  cr: '1.2.840.10008.5.1.4.1.1.1',
  dx: '1.2.840.10008.5.1.4.1.1.1.1',
  basicTextSr: '1.2.840.10008.5.1.4.1.1.88.11',
  rtPlan: '1.2.840.10008.5.1.4.1.1.481.5',
  mediaStorageDirectory: '1.2.840.10008.1.3.10',
} as const;

/** Image description for {@link dicomFile}. */
export interface DicomSpec {
  transferSyntax?: string;
  sopClass?: string;
  rows?: number;
  columns?: number;
  bitsAllocated?: number;
  bitsStored?: number;
  pixelRepresentation?: number;
  photometric?: string;
  /** Extra elements (any group > 0x0008), e.g. rescale, Modality LUT Sequence. */
  extra?: El[];
  /** Native pixel bytes, or encapsulated frames; omitted for a file with no image. */
  pixels?: Uint8Array | { frames: Uint8Array[] };
  /** Leave out the image pixel module entirely (SR, RT plan, DICOMDIR). */
  noImage?: boolean;
}

/** A Part 10 file: preamble, meta group, then the data set (raw-deflated for the deflated syntax). */
export function dicomFile(spec: DicomSpec): Uint8Array {
  const ts = spec.transferSyntax ?? TS.explicitLE;
  const sop = spec.sopClass ?? SOP.cr;
  const uid = '1.2.826.0.1.3680043.8.498.13';
  const metaBody = cat([
    element({ tag: 0x00020001, vr: 'OB', value: new Uint8Array([0, 1]) }),
    element({ tag: 0x00020002, vr: 'UI', value: sop }),
    element({ tag: 0x00020003, vr: 'UI', value: uid }),
    element({ tag: 0x00020010, vr: 'UI', value: ts }),
    element({ tag: 0x00020012, vr: 'UI', value: uid }),
  ]);
  const meta = cat([element({ tag: 0x00020000, vr: 'UL', value: metaBody.length }), metaBody]);
  const els: El[] = [
    { tag: 0x00080016, vr: 'UI', value: sop },
    { tag: 0x00080018, vr: 'UI', value: uid },
    { tag: 0x00080060, vr: 'CS', value: 'CR' },
    ...(spec.extra ?? []),
  ];
  if (!spec.noImage) {
    const bits = spec.bitsAllocated ?? 16;
    els.push(
      { tag: 0x00280002, vr: 'US', value: 1 },
      { tag: 0x00280004, vr: 'CS', value: spec.photometric ?? 'MONOCHROME2' },
      { tag: 0x00280010, vr: 'US', value: spec.rows ?? 16 },
      { tag: 0x00280011, vr: 'US', value: spec.columns ?? 16 },
      { tag: 0x00280100, vr: 'US', value: bits },
      { tag: 0x00280101, vr: 'US', value: spec.bitsStored ?? bits },
      { tag: 0x00280102, vr: 'US', value: (spec.bitsStored ?? bits) - 1 },
      { tag: 0x00280103, vr: 'US', value: spec.pixelRepresentation ?? 0 },
    );
  }
  els.sort((a, b) => a.tag - b.tag);
  const parts = els.map(element);
  const px = spec.pixels;
  if (px instanceof Uint8Array) parts.push(element({ tag: 0x7fe00010, vr: (spec.bitsAllocated ?? 16) > 8 ? 'OW' : 'OB', value: px }));
  else if (px) parts.push(encapsulated(px.frames));
  const dataset = cat(parts);
  const body = ts === TS.deflated ? new Uint8Array(deflateRawSync(dataset, { level: 9 })) : dataset;
  const preamble = new Uint8Array(132);
  preamble.set(Buffer.from('DICM'), 128);
  return cat([preamble, meta, body]);
}

interface WasmEncoder {
  getDecodedBuffer(info: object): Uint8Array;
  getEncodedBuffer(): Uint8Array;
  encode(): void;
  delete(): void;
}

const ENCODERS = {
  j2k: ['@cornerstonejs/codec-openjpeg/wasmjs', 'J2KEncoder'],
  htj2k: ['@cornerstonejs/codec-openjph/wasmjs', 'HTJ2KEncoder'],
  'jpeg-ls': ['@cornerstonejs/codec-charls/wasmjs', 'JpegLSEncoder'],
} as const;

/** Encodes a grey 16-bit (or 8-bit) image losslessly as a JPEG 2000, HTJ2K or JPEG-LS codestream. */
export async function encodeCodestream(kind: keyof typeof ENCODERS, width: number, height: number, pixel: (x: number, y: number) => number, bits = 16): Promise<Uint8Array> {
  const [path, cls] = ENCODERS[kind];
  const mod = (await (require(path) as (o: object) => Promise<Record<string, new () => WasmEncoder>>)({ print() {}, printErr() {} }));
  const enc = new mod[cls]();
  try {
    const buf = enc.getDecodedBuffer({ width, height, bitsPerSample: bits, componentCount: 1, isSigned: false, isUsingColorTransform: false });
    if (bits > 8) {
      const px = new Uint16Array(buf.buffer, buf.byteOffset, width * height);
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) px[y * width + x] = pixel(x, y);
    } else {
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) buf[y * width + x] = pixel(x, y);
    }
    enc.encode();
    const out = enc.getEncodedBuffer();
    return new Uint8Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength));
  } finally {
    enc.delete();
  }
}

/**
 * A deflated 16-bit DICOM of `side` x `side` zeros with a CT-like rescale: about 195 KB for
 * 10000 x 10000 (zlib's 1032:1 limit), 200 MB of pixels once inflated.
 */
export function deflatedDicomBomb(side: number): Uint8Array {
  return dicomFile({
    transferSyntax: TS.deflated, rows: side, columns: side, bitsAllocated: 16, bitsStored: 12,
    extra: [{ tag: 0x00281052, vr: 'DS', value: '-1024' }, { tag: 0x00281053, vr: 'DS', value: '1' }],
    pixels: new Uint8Array(side * side * 2),
  });
}

/** A flat RGBA 16-bit PNG of `side` x `side` (about 780 KB for 10000 x 10000). */
export async function rgba16PngBomb(side: number): Promise<Uint8Array> {
  const png = await sharp({ create: { width: side, height: side, channels: 4, background: { r: 40, g: 40, b: 40, alpha: 1 } }, limitInputPixels: false })
    .toColourspace('rgb16').png({ compressionLevel: 9 }).toBuffer();
  return new Uint8Array(png);
}

/** A flat progressive colour JPEG of `side` x `side` (about 590 KB for 10000 x 10000). */
export async function progressiveJpegBomb(side: number): Promise<Uint8Array> {
  const jpg = await sharp({ create: { width: side, height: side, channels: 3, background: { r: 90, g: 90, b: 90 } }, limitInputPixels: false })
    .jpeg({ progressive: true, quality: 90, chromaSubsampling: '4:4:4' }).toBuffer();
  return new Uint8Array(jpg);
}
