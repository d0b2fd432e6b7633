import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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

/**
 * On-disk feature cache. An entry is one .npy file named by the sha256 of the image content and
 * of every key part, so any later command with the same model, preprocessing and augmentation
 * reuses it, and a change to any of them misses. Writes are atomic (temp file + rename): a
 * process killed at any moment leaves no corrupt entry, and the next run resumes.
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

  /** The cached array, or null on a miss (an unreadable entry counts as a miss and is rewritten later). */
  async get(key: string, expectLength?: number): Promise<Float32Array | null> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(this.pathOf(key));
    } catch {
      return null;
    }
    try {
      const arr = parseNpy(bytes);
      if (!(arr.data instanceof Float32Array)) return null;
      if (expectLength !== undefined && arr.data.length !== expectLength) return null;
      return arr.data;
    } catch {
      return null;
    }
  }

  /** Stores an array atomically. */
  async put(key: string, data: Float32Array, shape: number[]): Promise<void> {
    await writeFileAtomic(this.pathOf(key), encodeNpyF32(data, shape));
  }
}
