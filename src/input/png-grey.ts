/**
 * A fast path for the commonest input, an 8-bit greyscale non-interlaced PNG (every dev-set image):
 * zlib inflate plus the PNG row filters in JavaScript, about a third of the CPU of a libvips
 * pipeline per small image. Decoding is lossless, so the pixels equal sharp's exactly. Anything
 * this path does not cover (other colour types or depths, interlacing, transparency, colour
 * profiles, EXIF orientation, a bad checksum or short data) answers null and the caller decodes
 * with sharp, which also gives the error messages for broken files.
 */
import { crc32, inflateSync } from 'node:zlib';

/** Where a grey PNG's pixel data lies, from its chunk structure. */
export interface GreyPngLayout {
  width: number;
  height: number;
  /** [start, end) byte ranges of the IDAT chunks' data. */
  idat: Array<[number, number]>;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Chunks that do not change the decoded pixels (libvips ignores them when loading). */
const HARMLESS = new Set(['pHYs', 'tEXt', 'zTXt', 'iTXt', 'tIME']);

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/**
 * The layout of an 8-bit grey, non-interlaced PNG whose other chunks cannot change its pixels;
 * null for any other file (which then takes the general decoder). Reads the chunk headers and
 * checks the checksums of every chunk but the pixel data's (checked when decoding), so that a
 * file it accepts needs no other header check: libvips would refuse a bad header checksum.
 */
export function greyPngLayout(bytes: Uint8Array): GreyPngLayout | null {
  if (bytes.length < 45) return null;
  for (let i = 0; i < 8; i++) if (bytes[i] !== SIGNATURE[i]) return null;
  // IHDR: length 13, width, height, depth 8, colour type 0, compression 0, filter 0, interlace 0
  if (u32(bytes, 8) !== 13 || String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]) !== 'IHDR') return null;
  const width = u32(bytes, 16);
  const height = u32(bytes, 20);
  if (width === 0 || height === 0 || bytes[24] !== 8 || bytes[25] !== 0 || bytes[26] !== 0 || bytes[27] !== 0 || bytes[28] !== 0) return null;
  if (width > 0x7fffffff || height > 0x7fffffff || crc32(bytes.subarray(12, 29)) !== u32(bytes, 29)) return null;
  const idat: Array<[number, number]> = [];
  let o = 33;
  for (;;) {
    if (o + 12 > bytes.length) return null;
    const len = u32(bytes, o);
    const type = String.fromCharCode(bytes[o + 4], bytes[o + 5], bytes[o + 6], bytes[o + 7]);
    if (o + 12 + len > bytes.length) return null;
    if (type === 'IDAT') idat.push([o + 8, o + 8 + len]);
    else if (!HARMLESS.has(type) && type !== 'IEND') return null;
    else if (crc32(bytes.subarray(o + 4, o + 8 + len)) !== u32(bytes, o + 8 + len)) return null;
    if (type === 'IEND') return idat.length > 0 ? { width, height, idat } : null;
    o += 12 + len;
  }
}

/**
 * Decodes the pixels of a file `greyPngLayout` accepted: width * height bytes, row-major. Null
 * when a chunk checksum is wrong or the compressed data is not exactly the image (the caller then
 * lets sharp decide: it may refuse the file with its own message).
 */
export function decodeGreyPng(bytes: Uint8Array, layout: GreyPngLayout): Uint8Array | null {
  const { width, height, idat } = layout;
  for (const [s, e] of idat) if (crc32(bytes.subarray(s - 4, e)) !== u32(bytes, e)) return null;
  const stride = width + 1;
  let raw: Buffer;
  try {
    // one output chunk the size of the image: no 16 KiB pieces joined afterwards
    raw = inflateSync(idatData(bytes, idat), { maxOutputLength: stride * height + 1, chunkSize: stride * height + 64 });
  } catch {
    return null;
  }
  if (raw.length !== stride * height) return null;
  // a plain Uint8Array view keeps the loops below monomorphic (a Buffer has another prototype)
  return unfilter(new Uint8Array(raw.buffer, raw.byteOffset, raw.length), width, height);
}

// the pixel data of files split into several IDAT chunks (most dev images: 4 on average) is
// gathered here, reused from file to file, rather than into a new buffer each time
let gathered = new Uint8Array(0);

/** The compressed pixel data: the one IDAT chunk's, or all of them joined. */
function idatData(bytes: Uint8Array, idat: Array<[number, number]>): Uint8Array {
  if (idat.length === 1) return bytes.subarray(idat[0][0], idat[0][1]);
  let n = 0;
  for (const [s, e] of idat) n += e - s;
  if (gathered.length < n) gathered = new Uint8Array(Math.max(n, 2 * gathered.length));
  let o = 0;
  for (const [s, e] of idat) {
    gathered.set(bytes.subarray(s, e), o);
    o += e - s;
  }
  return gathered.subarray(0, n);
}

/**
 * Undoes the PNG row filters (one byte per pixel): None, Sub, Up, Average, Paeth. In place: row y
 * is written at y * width, before the filtered bytes it reads (from y * (width + 1) + 1 on), and
 * after the row above it, which it reads as written; the pixels are the start of `raw`.
 */
function unfilter(raw: Uint8Array, width: number, height: number): Uint8Array | null {
  const out = raw;
  const stride = width + 1;
  for (let y = 0; y < height; y++) {
    const f = raw[y * stride];
    const src = y * stride + 1;
    const row = y * width;
    const up = row - width;
    switch (f) {
      case 0:
        out.copyWithin(row, src, src + width);
        break;
      case 1: {
        let left = 0;
        for (let x = 0; x < width; x++) out[row + x] = left = (raw[src + x] + left) & 255;
        break;
      }
      case 2:
        if (y === 0) out.copyWithin(row, src, src + width);
        else for (let x = 0; x < width; x++) out[row + x] = (raw[src + x] + out[up + x]) & 255;
        break;
      case 3: {
        if (y === 0) {
          let left = 0;
          for (let x = 0; x < width; x++) out[row + x] = left = (raw[src + x] + (left >> 1)) & 255;
          break;
        }
        let left = 0;
        for (let x = 0; x < width; x++) out[row + x] = left = (raw[src + x] + ((left + out[up + x]) >> 1)) & 255;
        break;
      }
      case 4: {
        // Paeth with a row above of zeros is Sub
        if (y === 0) {
          let left = 0;
          for (let x = 0; x < width; x++) out[row + x] = left = (raw[src + x] + left) & 255;
          break;
        }
        paethRow(raw, src, out, row, up, width);
        break;
      }
      default:
        return null;
    }
  }
  return out.subarray(0, width * height);
}

/** One Paeth-filtered row (a function of its own: V8 optimises the short loop far better). */
function paethRow(raw: Uint8Array, src: number, out: Uint8Array, row: number, up: number, width: number): void {
  let left = 0;
  let upLeft = 0;
  for (let x = 0; x < width; x++) {
    const above = out[up + x];
    // p = left + above - upLeft; the distances |p - left|, |p - above|, |p - upLeft|
    const da = above - upLeft;
    const db = left - upLeft;
    const dc = da + db;
    const pa = (da ^ (da >> 31)) - (da >> 31);
    const pb = (db ^ (db >> 31)) - (db >> 31);
    const pc = (dc ^ (dc >> 31)) - (dc >> 31);
    // branch-free choice (the branches mispredict on image data): left unless pa > pb or pa > pc,
    // then above unless pb > pc, then upLeft
    const notLeft = ((pb - pa) >> 31) | ((pc - pa) >> 31);
    const other = above ^ ((above ^ upLeft) & ((pc - pb) >> 31));
    const pred = left ^ ((left ^ other) & notLeft);
    out[row + x] = left = (raw[src + x] + pred) & 255;
    upLeft = above;
  }
}
