import { readFile as readFileCallback } from 'node:fs';
import sharp from 'sharp';
import { InputError } from '../errors.js';
import type { GreyImage, ImageFormat, LoadedImage } from './grey-image.js';
import { decodeGreyPng, greyPngLayout, type GreyPngLayout } from './png-grey.js';
import { sniffFormat } from './sniff.js';
import { truncationOf } from './truncation.js';

/** Limits that protect every input path. */
export interface LoadLimits {
  /** Largest width * height accepted, checked from the header before any pixel is decoded. */
  maxPixels: number;
}

/** Default pixel limit: 100 megapixels (a 10,000 x 10,000 radiograph; real ones are ≤ 4,300 px a side). */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/**
 * Default pixel limit of a server: 25 megapixels (5,000 x 5,000), above any real radiograph
 * (≤ 4,300 px a side, 18.5 megapixels) but a quarter of the general limit, because a server
 * decodes what strangers send: a progressive colour JPEG holds about 9 bytes per pixel of
 * coefficients while it decodes, so 25 megapixels bound one upload to roughly 230 MiB.
 */
export const DEFAULT_SERVER_MAX_PIXELS = 25_000_000;

/** An image to load: a path, or bytes with a display name for error messages. */
export type ImageSource = string | { bytes: Uint8Array; name: string };

// the callback readFile reads a small file in one go; fs/promises' reads in several awaited steps
// and took about twice the CPU per dev image (0.10-0.25 ms against 0.06, measured for issue 18)
// (called through the module binding each time, so instrumentation of node:fs sees every read)
const readFile = (path: string): Promise<Buffer> => new Promise((resolve, reject) => {
  readFileCallback(path, (err, data) => (err ? reject(err) : resolve(data)));
});

/** Reads a source into bytes and a name, mapping I/O failures to InputError. */
export async function readSource(src: ImageSource): Promise<{ bytes: Uint8Array; name: string }> {
  if (typeof src !== 'string') return src;
  try {
    return { bytes: await readFile(src), name: src };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, not an image' : `cannot read file (${code ?? String(err)})`;
    throw new InputError(src, 'unreadable', why, { cause: err });
  }
}

/**
 * An image whose header has been read and checked (format, size, limits), not yet decoded.
 * Splitting probe from decode lets preprocessing fuse decoding with resizing for ordinary
 * 8-bit files (one libvips pipeline) while DICOM and 16-bit files take the general path.
 */
export interface ProbedImage {
  name: string;
  bytes: Uint8Array;
  format: ImageFormat;
  /** Bits per sample of a raster file (8 or 16); 0 for DICOM until decoded. */
  bitDepth: number;
  /** Size in display orientation (EXIF applied), from the header; 0 for DICOM until decoded. */
  width: number;
  height: number;
  /**
   * For PNG/JPEG/TIFF/WebP: a fresh sharp pipeline yielding the display image (EXIF orientation
   * applied, alpha flattened onto black), to which greyscale and geometry can be appended.
   * Null for DICOM.
   */
  display: (() => sharp.Sharp) | null;
  /** Set for an 8-bit grey PNG that the JavaScript decoder reads (png-grey.ts); null otherwise. */
  greyPng: GreyPngLayout | null;
  maxPixels: number;
}

/**
 * Reads and checks an image up to decoding: empty files, non-images (by content, not by
 * extension), unreadable headers and images over the pixel limit are rejected here, naming the
 * file, before any pixel is decoded.
 */
export async function probeImage(src: ImageSource, limits: Partial<LoadLimits> = {}): Promise<ProbedImage> {
  const { bytes, name } = await readSource(src);
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) throw new InputError(name, 'empty', 'empty file (0 bytes)');
  const format = sniffFormat(bytes);
  if (format === null) {
    throw new InputError(name, 'not-an-image', 'not an image: the content is not PNG, JPEG, TIFF, WebP or DICOM (format is decided by content, not by the file extension)');
  }
  if (format === 'dicom') return { name, bytes, format, bitDepth: 0, width: 0, height: 0, display: null, greyPng: null, maxPixels };
  const opts = { limitInputPixels: maxPixels, failOn: 'warning' as const };
  const display = () => sharp(bytes, opts).rotate().flatten({ background: '#000000' });
  // (the layout's own checks exclude alpha, colour and EXIF orientation)
  const greyPng = format === 'png' ? greyPngLayout(bytes) : null;
  if (greyPng) {
    // a grey PNG whose chunks (signature, header, checksums) the layout has checked needs no
    // libvips header read: its size is known (about 0.1 ms of CPU per dev image saved)
    const { width, height } = greyPng;
    if (width * height > maxPixels) throw tooLarge(name, width, height, maxPixels);
    return { name, bytes, format, bitDepth: 8, width, height, display, greyPng, maxPixels };
  }
  let meta: sharp.Metadata;
  try {
    // the header alone, without sharp's own limit, so that the refusal below can give the size
    meta = await sharp(bytes, { ...opts, limitInputPixels: false }).metadata();
  } catch (err) {
    throw mapSharpError(name, err, bytes);
  }
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w * h > maxPixels) throw tooLarge(name, w, h, maxPixels);
  const bitDepth = meta.depth === 'ushort' || meta.depth === 'short' ? 16 : 8;
  // EXIF orientations 5-8 swap width and height
  const swap = (meta.orientation ?? 1) >= 5;
  return { name, bytes, format, bitDepth, width: swap ? h : w, height: swap ? w : h, display, greyPng: null, maxPixels };
}

function tooLarge(name: string, w: number, h: number, maxPixels: number): InputError {
  return new InputError(name, 'too-large', `image is ${w}x${h} = ${w * h} pixels, over the limit of ${maxPixels} (checked before decoding; raise the pixel limit if this is a real radiograph)`);
}

/** Decodes a probed image into the pipeline's 8-bit grey image. */
export async function decodeProbed(p: ProbedImage): Promise<LoadedImage> {
  const { name, format } = p;
  if (!p.display) {
    const { decodeDicomToGrey } = await import('./dicom/index.js');
    return decodeDicomToGrey(p.bytes, name, { maxPixels: p.maxPixels });
  }
  // lossless either way: the JavaScript decoder's pixels are sharp's
  const fast = p.greyPng ? decodeGreyPng(p.bytes, p.greyPng) : null;
  if (fast) return { width: p.width, height: p.height, data: fast, format, bitDepth: 8 };
  try {
    if (p.bitDepth === 16) {
      // not .greyscale(), which goes through 8-bit b-w and would quantise 12-bit data to ~13 levels
      const { data, info } = await p.display().toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      const px = new Uint16Array(data.buffer, data.byteOffset, data.byteLength >> 1);
      return { ...stretch16(px, info.width, info.height, info.channels), format, bitDepth: 16 };
    }
    const { data, info } = await p.display().greyscale().raw().toBuffer({ resolveWithObject: true });
    const grey = info.channels === 1 ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : firstChannel(data, info.channels);
    return { width: info.width, height: info.height, data: grey, format, bitDepth: 8 };
  } catch (err) {
    throw mapSharpError(name, err, p.bytes);
  }
}

/**
 * Decodes a PNG, JPEG, TIFF, WebP or DICOM file into the pipeline's 8-bit grey image.
 * - The format is decided by content, not by extension.
 * - Alpha is flattened onto black (as the dev set's conversion did); colour is reduced to luminance.
 * - 16-bit images are stretched between their own minimum and maximum, not shifted by 8 bits,
 *   because 12-bit data stored in 16 bits would otherwise come out almost black.
 * - EXIF orientation is applied.
 * Throws InputError naming the file for empty, truncated, non-image and over-limit input.
 */
export async function loadGreyImage(src: ImageSource, limits: Partial<LoadLimits> = {}): Promise<LoadedImage> {
  return decodeProbed(await probeImage(src, limits));
}

/**
 * Linearly maps a 16-bit channel (stride `channels`) from its own [min, max] onto 0..255, through
 * a table of the 65,536 possible words (the same numbers as mapping each pixel, in a fraction of
 * the time for a 2500 px image).
 */
function stretch16(px: Uint16Array, width: number, height: number, channels: number): GreyImage {
  const n = width * height;
  const samples = channels === 1 ? px.subarray(0, n) : strided(px, n, channels);
  const [lo, hi] = range16(samples);
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const table = new Uint8Array(65536);
  for (let v = lo; v <= hi; v++) table[v] = Math.round((v - lo) * scale);
  const out = new Uint8Array(n);
  mapWords(samples, table, out);
  return { width, height, data: out };
}

function strided(px: Uint16Array, n: number, channels: number): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = px[i * channels];
  return out;
}

/** The smallest and largest 16-bit sample ([0, 0] for no samples): the range the 16-bit stretch maps onto 0..255. */
export function range16(px: Uint16Array): [number, number] {
  let lo = 65535;
  let hi = 0;
  for (let i = 0; i < px.length; i++) {
    const v = px[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo > hi ? [0, 0] : [lo, hi];
}

/** out[i] = table[words[i]]: the one pass over the pixels of a table-mapped image. */
function mapWords(words: Uint16Array, table: Uint8Array, out: Uint8Array): void {
  for (let i = 0; i < words.length; i++) out[i] = table[words[i]];
}

function firstChannel(data: Uint8Array, channels: number): Uint8Array {
  const n = data.length / channels;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = data[i * channels];
  return out;
}

/**
 * Turns a sharp/libvips failure into an InputError a user can act on. With the file's bytes, a
 * truncated PNG/JPEG/WebP is recognised from its own structure first: libvips' error text is
 * shared between threads, so in a batch it may name another file's problem.
 */
export function mapSharpError(name: string, err: unknown, bytes?: Uint8Array): InputError {
  const msg = err instanceof Error ? err.message : String(err);
  const format = bytes ? sniffFormat(bytes) : null;
  const cut = bytes && format ? truncationOf(bytes, format) : null;
  if (cut) return new InputError(name, 'truncated', `truncated image data: ${cut}`, { cause: err });
  if (/pixel limit/i.test(msg)) return new InputError(name, 'too-large', `image exceeds the pixel limit (checked before decoding): ${msg}`, { cause: err });
  if (/premature end|truncat|end of stream|not enough data|read error|unexpected end|short read|IDAT stream error/i.test(msg)) {
    return new InputError(name, 'truncated', `truncated or incomplete image data (${firstLine(msg)})`, { cause: err });
  }
  if (/unsupported image format/i.test(msg)) return new InputError(name, 'not-an-image', 'not an image or an unsupported format', { cause: err });
  return new InputError(name, 'corrupt', `cannot decode image (${firstLine(msg)})`, { cause: err });
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}
