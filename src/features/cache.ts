import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { sha256Hex } from '../util/hash.js';
import { encodeNpyF32, npyHeaderF32, parseNpy } from '../util/npy.js';
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
  /** The model's display name (e.g. "squeezenet1_1"), recorded beside its entries; not part of the key. */
  modelName?: string;
}

/** Entries are kept in one folder per model file, named by the start of its sha256. */
const MODEL_ID_LENGTH = 16;

/** The label file of a model's folder: which model its entries belong to. */
const MODEL_LABEL = 'model.json';

/** Marks the checksum trailer of a cache entry (format 1: CRC-32 of everything before it). */
const TRAILER_MAGIC = 'DCK1';
const TRAILER_BYTES = 8;

/**
 * On-disk feature cache. An entry is one .npy file named by the sha256 of the image content and
 * of every key part, so any later command with the same model, preprocessing and augmentation
 * reuses it, and a change to any of them misses. Entries live in one folder per model file
 * (`<dir>/<model sha256 start>/`, labelled by its model.json), so the cache can say how much each
 * backbone holds and clear one. Writes are atomic (temp file + rename): a process killed at any
 * moment leaves no corrupt entry, and the next run resumes.
 *
 * Each entry ends with an 8-byte trailer, "DCK1" and the CRC-32 (node:zlib) of the bytes before it;
 * NumPy reads only the array and ignores it. An entry whose checksum, dtype, length or values are
 * wrong (flipped bits, a truncated or overwritten file, NaN or infinity, an entry from before the
 * trailer) is a miss: the features are computed again and the entry is rewritten.
 */
export class FeatureCache {
  readonly dir: string;
  /** Model folders seen by key(), with their labels; labels are written with the first entry. */
  private readonly labels = new Map<string, { sha256: string; name: string | null; written: boolean }>();
  /** Entry folders already made by this object (each write need not ask for its folder again). */
  private readonly folders = new Set<string>();

  constructor(dir?: string) {
    this.dir = dir ?? join(env.cacheDir, 'features');
  }

  /** The cache key of one image under the given parts ("<model id>/<sha256>"). */
  key(imageSha256: string, parts: FeatureKeyParts): string {
    const model = parts.modelSha256.slice(0, MODEL_ID_LENGTH);
    if (!this.labels.has(model)) this.labels.set(model, { sha256: parts.modelSha256, name: parts.modelName ?? null, written: false });
    return `${model}/${sha256Hex(`${imageSha256}\n${parts.modelSha256}\n${parts.preprocess}\n${parts.tensor}\n${parts.augment}`)}`;
  }

  private pathOf(key: string): string {
    const [model, hash] = key.split('/');
    return join(this.dir, model, hash.slice(0, 2), `${hash}.npy`);
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

  /**
   * Stores an array atomically, with its checksum (and, with a model's first entry, the label of
   * its folder). Throws when the cache cannot be written. The array's bytes are written where
   * they are, not copied into an entry first (a SqueezeNet map is 338 KiB).
   */
  async put(key: string, data: Float32Array, shape: number[]): Promise<void> {
    await this.putEncoded(key, entryParts(data, shape));
  }

  /**
   * Stores an entry already encoded by encodeEntry (e.g. by a queue worker), atomically, as put()
   * does. The caller checks it first (decodeEntry): this writes the bytes as they are.
   */
  async putEncoded(key: string, entry: Uint8Array | readonly Uint8Array[]): Promise<void> {
    await writeFileAtomic(this.pathOf(key), entry, this.folders);
    const model = key.split('/')[0];
    const label = this.labels.get(model);
    if (label && !label.written) {
      label.written = true;
      await writeFileAtomic(join(this.dir, model, MODEL_LABEL), JSON.stringify({ sha256: label.sha256, name: label.name }) + '\n');
    }
  }
}

/** How much one model's entries take. */
export interface CacheModelUsage {
  /** The folder name: the start of the model file's sha256. */
  id: string;
  /** The model's name when its label says (null for a model file without a name). */
  name: string | null;
  sha256: string | null;
  entries: number;
  bytes: number;
}

/** What a feature cache folder holds. */
export interface CacheUsage {
  dir: string;
  models: CacheModelUsage[];
  /** Entries of the earlier flat layout (`<dir>/<2 hex>/<key>.npy`): never read any more. */
  older: { entries: number; bytes: number };
  bytes: number;
}

async function folderSize(dir: string): Promise<{ entries: number; bytes: number }> {
  let entries = 0;
  let bytes = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const sub = await folderSize(p);
      entries += sub.entries;
      bytes += sub.bytes;
    } else if (e.isFile()) {
      if (e.name.endsWith('.npy')) entries++;
      bytes += (await stat(p).catch(() => null))?.size ?? 0;
    }
  }
  return { entries, bytes };
}

const MODEL_DIR = new RegExp(`^[0-9a-f]{${MODEL_ID_LENGTH}}$`);
const OLDER_DIR = /^[0-9a-f]{2}$/;

/** Sizes of a feature cache folder, per model (largest first); a missing folder is empty. */
export async function cacheUsage(dir: string): Promise<CacheUsage> {
  const models: CacheModelUsage[] = [];
  const older = { entries: 0, bytes: 0 };
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory()) continue;
    const p = join(dir, e.name);
    if (MODEL_DIR.test(e.name)) {
      const label = await readFile(join(p, MODEL_LABEL), 'utf8').then((t) => JSON.parse(t) as { sha256?: string; name?: string | null }, () => null);
      models.push({ id: e.name, name: label?.name ?? null, sha256: label?.sha256 ?? null, ...(await folderSize(p)) });
    } else if (OLDER_DIR.test(e.name)) {
      const s = await folderSize(p);
      older.entries += s.entries;
      older.bytes += s.bytes;
    }
  }
  models.sort((a, b) => b.bytes - a.bytes || (a.id < b.id ? -1 : 1));
  return { dir, models, older, bytes: models.reduce((t, m) => t + m.bytes, older.bytes) };
}

/**
 * Deletes cached features: every entry (and the older layout's), or only those of the models
 * named `model` (a name such as "squeezenet1_1", or the start of a model sha256). Returns what
 * was removed. Only the cache's own folders are touched, never other files in `dir`.
 */
export async function clearCache(dir: string, model?: string): Promise<{ removed: CacheModelUsage[]; older: { entries: number; bytes: number }; bytes: number }> {
  const usage = await cacheUsage(dir);
  const pick = model === undefined
    ? usage.models
    : usage.models.filter((m) => m.name === model || (model.length >= 6 && /^[0-9a-f]+$/.test(model) && (m.sha256 ?? m.id).startsWith(model)));
  for (const m of pick) await rm(join(dir, m.id), { recursive: true, force: true });
  let older = { entries: 0, bytes: 0 };
  if (model === undefined) {
    older = usage.older;
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory() && OLDER_DIR.test(e.name)) await rm(join(dir, e.name), { recursive: true, force: true });
    }
  }
  return { removed: pick, older, bytes: pick.reduce((t, m) => t + m.bytes, older.bytes) };

}

/** The bytes of a cache entry in three pieces, without copying the array: .npy header, the array's bytes, the checksum trailer. */
function entryParts(data: Float32Array, shape: number[]): Uint8Array[] {
  const head = npyHeaderF32(shape);
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const trailer = new Uint8Array(TRAILER_BYTES);
  const view = new DataView(trailer.buffer);
  for (let i = 0; i < 4; i++) view.setUint8(i, TRAILER_MAGIC.charCodeAt(i));
  view.setUint32(4, crc32(body, crc32(head)), true);
  return [head, body, trailer];
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
  // x * 0 is 0 for finite x and NaN for NaN and infinities, and a sum with a NaN in it is NaN:
  // four independent sums and no branch per value (a SqueezeNet map is 86,528 values)
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const n = data.length, n4 = n - (n % 4);
  for (let i = 0; i < n4; i += 4) {
    s0 += data[i] * 0;
    s1 += data[i + 1] * 0;
    s2 += data[i + 2] * 0;
    s3 += data[i + 3] * 0;
  }
  for (let i = n4; i < n; i++) s0 += data[i] * 0;
  return s0 + s1 + s2 + s3 === 0;
}
