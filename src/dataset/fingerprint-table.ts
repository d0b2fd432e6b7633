import type { GreyImage } from '../input/grey-image.js';
import { findDuplicates, type DedupeOptions, type DedupeResult } from './dedupe.js';
import type { Fingerprint } from './fingerprint.js';

/**
 * Fingerprints of a list of images filled in any order (images are read concurrently), then
 * searched for duplicates among the readable ones. Shared by `dataset build` and `dataset check`.
 */
export class FingerprintTable {
  readonly sha256: string[];
  private readonly pixelSha256: string[];
  private readonly hashes: Uint16Array;
  private readonly ok: Uint8Array;

  constructor(readonly size: number) {
    this.sha256 = new Array<string>(size).fill('');
    this.pixelSha256 = new Array<string>(size).fill('');
    this.hashes = new Uint16Array(4 * size);
    this.ok = new Uint8Array(size);
  }

  /** Records image i's fingerprint (and so marks it readable). */
  set(i: number, fp: Fingerprint): void {
    this.sha256[i] = fp.sha256;
    this.pixelSha256[i] = fp.pixelSha256;
    this.hashes.set(fp.phash, 4 * i);
    this.ok[i] = 1;
  }

  /** Indices of the readable images, in order. */
  readable(): number[] {
    return [...Array(this.size).keys()].filter((i) => this.ok[i]);
  }

  /**
   * Duplicates among the readable images. Pair and group indices refer to positions in `idx`
   * (the readable images); `load(i)` gets image i (a table index) for the similarity check.
   */
  async duplicates(load: (i: number) => Promise<GreyImage | null>, opts: Partial<DedupeOptions> = {}): Promise<DedupeResult & { idx: number[] }> {
    const idx = this.readable();
    const res = await findDuplicates(
      idx.map((i) => ({ sha256: this.sha256[i], pixelSha256: this.pixelSha256[i] })),
      Uint16Array.from(idx.flatMap((i) => [...this.hashes.subarray(4 * i, 4 * i + 4)])),
      (k) => load(idx[k]),
      opts,
    );
    return { ...res, idx };
  }
}
