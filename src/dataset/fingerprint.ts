import sharp from 'sharp';
import type { GreyImage } from '../input/grey-image.js';
import { loadGreyImage, readSource, type LoadLimits } from '../input/load-image.js';
import { sha256Hex } from '../util/hash.js';
import { phash32 } from './phash.js';

/** Side of the thumbnail used to confirm near-duplicates. */
export const THUMB = 64;

/** What the duplicate search and the checks need to know about one image file. */
export interface Fingerprint {
  /** sha256 of the file's bytes. */
  sha256: string;
  /** sha256 of the decoded 8-bit grey pixels and their size (same picture, different encoding). */
  pixelSha256: string;
  width: number;
  height: number;
  bitDepth: number;
  format: string;
  /** 64-bit pHash as four 16-bit words. */
  phash: Uint16Array;
}

/** A THUMB x THUMB grey thumbnail (aspect ratio ignored: copies that were resized still line up). */
export async function thumbnail(img: GreyImage, size = THUMB): Promise<Uint8Array> {
  const buf = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } })
    .resize(size, size, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** 2x2 box average of a square thumbnail (64x64 → 32x32). */
export function halve(thumb: Uint8Array, size: number): Uint8Array {
  const h = size >> 1;
  const out = new Uint8Array(h * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < h; x++) {
      const i = 2 * y * size + 2 * x;
      out[y * h + x] = (thumb[i] + thumb[i + 1] + thumb[i + size] + thumb[i + size + 1] + 2) >> 2;
    }
  }
  return out;
}

/** sha256 of a decoded image's size and pixels. */
export function pixelHash(img: GreyImage): string {
  const head = Buffer.from(`${img.width}x${img.height}\0`);
  return sha256Hex(Buffer.concat([head, img.data]));
}

/** Fingerprint of a decoded image whose file bytes hashed to `sha256`; also returns the thumbnail. */
export async function fingerprintDecoded(img: GreyImage & { bitDepth?: number; format?: string }, sha256: string): Promise<{ fp: Fingerprint; thumb: Uint8Array }> {
  const thumb = await thumbnail(img);
  const fp: Fingerprint = {
    sha256,
    pixelSha256: pixelHash(img),
    width: img.width,
    height: img.height,
    bitDepth: img.bitDepth ?? 8,
    format: img.format ?? 'raw',
    phash: phash32(halve(thumb, THUMB)),
  };
  return { fp, thumb };
}

/** Reads, decodes and fingerprints one file (PNG/JPEG/TIFF/WebP/DICOM). Throws InputError when unreadable. */
export async function fingerprintFile(file: string, limits: Partial<LoadLimits> = {}): Promise<{ fp: Fingerprint; thumb: Uint8Array }> {
  const { bytes } = await readSource(file);
  const img = await loadGreyImage({ bytes, name: file }, limits);
  return fingerprintDecoded(img, sha256Hex(bytes));
}

/** What a near-duplicate candidate is confirmed with. */
export interface SimilarityFeatures {
  /** 64x64 thumbnail. */
  thumb: Uint8Array;
  /** High-pass detail at 128x128: the thumbnail minus its Gaussian blur (sigma 3). */
  detail: Float32Array;
}

/**
 * Features for confirming near-duplicates. Whole chest films of different patients correlate up to
 * about 0.95 at 64x64 (same anatomy, same exposure); their fine detail (ribs, vessels, markers)
 * correlates below about 0.8, while re-encoded or resized copies keep it above 0.99.
 */
export async function similarityFeatures(img: GreyImage): Promise<SimilarityFeatures> {
  const raw = { raw: { width: img.width, height: img.height, channels: 1 as const } };
  const big = await sharp(img.data, raw).resize(128, 128, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
  const blurred = await sharp(big, { raw: { width: 128, height: 128, channels: 1 } }).blur(3).raw().toBuffer();
  const detail = new Float32Array(128 * 128);
  for (let i = 0; i < detail.length; i++) detail[i] = big[i] - blurred[i];
  return { thumb: await thumbnail(img), detail };
}

/** Pearson correlation of two equally long byte arrays (0 when either is flat). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < n; i++) {
    sa += a[i];
    sb += b[i];
  }
  const ma = sa / n;
  const mb = sb / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma;
    const db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}
