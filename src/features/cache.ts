import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { sha256Hex } from '../util/hash.js';
import { encodeNpyF32, parseNpy } from '../util/npy.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { env } from '../util/env.js';

/** Everything that determines a feature vector, besides the image itself. */
export interface FeatureKeyParts {
  modelSha256: string;
  /** preprocessKey() of the preprocessing config. */
  preprocess: string;
  /** Which tensor: 'pooled' or 'map'. */
  tensor: 'pooled' | 'map';
  /** Augmentation identity ('' for the original image): parameters, seed and variant index. */
  augment: string;
}

/** Marks the checksum trailer of a cache entry (format 1: CRC-32 of everything before it). */
const TRAILER_MAGIC = 'DCK1';
const TRAILER_BYTES = 8;

/**
 * On-disk feature cache. An entry is one .npy file named by the sha256 of the image content and
 * of every key part, so any later command with the same model, preprocessing and augmentation
 * reuses it, and a change to any of them misses. Writes are atomic (temp file + rename): a
 * process killed at any moment leaves no corrupt entry, and the next run resumes.
 *
 * Each entry ends with an 8-byte trailer, "DCK1" and the CRC-32 (node:zlib) of the bytes before it;
 * NumPy reads only the array and ignores it. An entry whose checksum, dtype, length or values are
 * wrong (flipped bits, a truncated or overwritten file, NaN or infinity, an entry from before the
 * trailer) is a miss: the features are computed again and the entry is rewritten.
 */
export class FeatureCache {
  readonly dir: string;

  constructor(dir?: string) {
    this.dir = dir ?? join(env.cacheDir, 'features');
  }

  /** The cache key of one image under the given parts. */
  key(imageSha256: string, parts: FeatureKeyParts): string {
    return sha256Hex(`${imageSha256}\n${parts.modelSha256}\n${parts.preprocess}\n${parts.tensor}\n${parts.augment}`);
  }

  private pathOf(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.npy`);
  }

  /**
   * The cached array, or null on a miss: absent, unreadable, or not a valid entry (checksum, dtype,
   * length, non-finite values); such an entry is rewritten by the next put().
   */
  async get(key: string, expectLength?: number): Promise<Float32Array | null> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(this.pathOf(key));
    } catch {
      return null;
    }
    return decodeEntry(bytes, expectLength);
  }

  /** Stores an array atomically, with its checksum. Throws when the cache cannot be written. */
  async put(key: string, data: Float32Array, shape: number[]): Promise<void> {
    await writeFileAtomic(this.pathOf(key), encodeEntry(data, shape));
  }
}

/** The bytes of a cache entry: the .npy file, then the checksum trailer. */
export function encodeEntry(data: Float32Array, shape: number[]): Uint8Array {
  const npy = encodeNpyF32(data, shape, TRAILER_BYTES);
  const body = npy.subarray(0, npy.length - TRAILER_BYTES);
  const view = new DataView(npy.buffer, npy.byteOffset + body.length, TRAILER_BYTES);
  for (let i = 0; i < 4; i++) view.setUint8(i, TRAILER_MAGIC.charCodeAt(i));
  view.setUint32(4, crc32(body), true);
  return npy;
}

/** The array of a cache entry, or null when the entry is not valid (see FeatureCache). */
export function decodeEntry(bytes: Uint8Array, expectLength?: number): Float32Array | null {
  if (bytes.length < TRAILER_BYTES) return null;
  const bodyLength = bytes.length - TRAILER_BYTES;
  const view = new DataView(bytes.buffer, bytes.byteOffset + bodyLength, TRAILER_BYTES);
  for (let i = 0; i < 4; i++) if (view.getUint8(i) !== TRAILER_MAGIC.charCodeAt(i)) return null;
  const body = bytes.subarray(0, bodyLength);
  if (crc32(body) !== view.getUint32(4, true)) return null;
  let data: Float32Array;
  try {
    const arr = parseNpy(body);
    if (!(arr.data instanceof Float32Array)) return null;
    data = arr.data;
  } catch {
    return null;
  }
  if (expectLength !== undefined && data.length !== expectLength) return null;
  return allFinite(data) ? data : null;
}

/** True when every value is a finite number (features given to a head must be). */
export function allFinite(data: Float32Array): boolean {
  for (let i = 0; i < data.length; i++) {
    // x - x is 0 for finite x and NaN for NaN and infinities
    if (data[i] - data[i] !== 0) return false;
  }
  return true;
}
