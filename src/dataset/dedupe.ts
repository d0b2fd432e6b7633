import { hamming, POPCOUNT16 } from './phash.js';
import type { GreyImage } from '../input/grey-image.js';
import { pearson, similarityFeatures, type SimilarityFeatures } from './fingerprint.js';
import { UnionFind } from './union-find.js';

/** How duplicates are searched. */
export interface DedupeOptions {
  /** Largest pHash Hamming distance of a near-duplicate candidate (default 10 of 64 bits). */
  maxDistance: number;
  /** Smallest Pearson correlation of the 64x64 thumbnails that confirms a candidate (default 0.95). */
  minCorrelation: number;
  /** Smallest correlation of the 128x128 high-pass detail that confirms a candidate (default 0.9). */
  minDetail: number;
}

/** Defaults: Hamming ≤ 10, thumbnail correlation ≥ 0.95 and detail correlation ≥ 0.9. */
export const DEFAULT_DEDUPE: Readonly<DedupeOptions> = Object.freeze({ maxDistance: 10, minCorrelation: 0.95, minDetail: 0.9 });

/** One duplicate pair (i < j, indices into the searched list). */
export interface DuplicatePair {
  i: number;
  j: number;
  /** 'file' identical bytes, 'pixels' identical decoded pixels, 'near' a confirmed near-duplicate. */
  kind: 'file' | 'pixels' | 'near';
  /** pHash Hamming distance. */
  distance: number;
  /** Thumbnail correlation (1 for exact duplicates). */
  correlation: number;
  /** Detail correlation (1 for exact duplicates). */
  detail: number;
}

/** Result of a duplicate search. */
export interface DedupeResult {
  pairs: DuplicatePair[];
  /** Group id (smallest member index) of every image: duplicates share one. */
  group: Int32Array;
  /** Near-duplicate candidates whose correlation was checked. */
  candidates: number;
}

/** Every 16-bit mask with at most r bits set (r ≤ 4). */
function masksUpTo(r: number): number[] {
  const out: number[] = [];
  for (let m = 0; m < 65536; m++) if (POPCOUNT16[m] <= r) out.push(m);
  return out;
}

/**
 * Pairs (i < j) whose pHash differs in at most `maxDistance` bits, by multi-index hashing: the 64
 * bits are split into four 16-bit bands; two hashes within distance d agree within floor(d/4) bits
 * on at least one band (pigeonhole), so each image probes, per band, the buckets within that
 * radius of its own band value. Cost grows with the number of close hashes, not with n².
 */
export function candidatePairs(hashes: Uint16Array, n: number, maxDistance: number): { i: number; j: number; distance: number }[] {
  const r = Math.floor(maxDistance / 4);
  if (r > 4) throw new RangeError(`maxDistance ${maxDistance} too large for 4-band multi-index hashing (at most 19)`);
  const masks = masksUpTo(r);
  const bands: Map<number, number[]>[] = [new Map(), new Map(), new Map(), new Map()];
  for (let i = 0; i < n; i++) {
    for (let b = 0; b < 4; b++) {
      const v = hashes[i * 4 + b];
      const list = bands[b].get(v);
      if (list) list.push(i);
      else bands[b].set(v, [i]);
    }
  }
  const seen = new Set<number>();
  const out: { i: number; j: number; distance: number }[] = [];
  for (let i = 0; i < n; i++) {
    for (let b = 0; b < 4; b++) {
      const v = hashes[i * 4 + b];
      for (const m of masks) {
        const list = bands[b].get(v ^ m);
        if (!list) continue;
        for (const j of list) {
          if (j <= i) continue;
          const key = i * n + j;
          if (seen.has(key)) continue;
          seen.add(key);
          const d = hamming(hashes, i, hashes, j);
          if (d <= maxDistance) out.push({ i, j, distance: d });
        }
      }
    }
  }
  return out;
}

/**
 * Finds duplicates among n images: identical files (sha256), identical decoded pixels, and
 * near-duplicates (pHash candidates confirmed by thumbnail correlation); merges them with
 * union-find. `load(i)` decodes image i again; it is called only for near-duplicate candidates,
 * and their similarity features are dropped once their last candidate pair is checked, so memory
 * does not grow with the number of images.
 */
export async function findDuplicates(
  items: { sha256: string; pixelSha256: string }[],
  hashes: Uint16Array,
  load: (i: number) => Promise<GreyImage | null>,
  opts: Partial<DedupeOptions> = {},
): Promise<DedupeResult> {
  const o = { ...DEFAULT_DEDUPE, ...opts };
  const n = items.length;
  const uf = new UnionFind(n);
  const pairs: DuplicatePair[] = [];
  const found = new Set<number>();
  const exact = (keyOf: (i: number) => string, kind: 'file' | 'pixels') => {
    const first = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const k = keyOf(i);
      if (!k) continue;
      const f = first.get(k);
      if (f === undefined) {
        first.set(k, i);
        continue;
      }
      if (found.has(f * n + i)) continue;
      found.add(f * n + i);
      uf.union(f, i);
      pairs.push({ i: f, j: i, kind, distance: hamming(hashes, f, hashes, i), correlation: 1, detail: 1 });
    }
  };
  exact((i) => items[i].sha256, 'file');
  exact((i) => items[i].pixelSha256, 'pixels');
  const cands = candidatePairs(hashes, n, o.maxDistance);
  // thumbnails are loaded once per candidate image and dropped after use
  const need = new Map<number, number>();
  for (const c of cands) {
    need.set(c.i, (need.get(c.i) ?? 0) + 1);
    need.set(c.j, (need.get(c.j) ?? 0) + 1);
  }
  const cache = new Map<number, Promise<SimilarityFeatures | null>>();
  const get = (i: number) => {
    let p = cache.get(i);
    if (!p) cache.set(i, (p = load(i).then((img) => (img ? similarityFeatures(img) : null), () => null)));
    return p;
  };
  const release = (i: number) => {
    const left = need.get(i)! - 1;
    need.set(i, left);
    if (left === 0) cache.delete(i);
  };
  for (const c of cands) {
    if (!found.has(c.i * n + c.j) && uf.find(c.i) !== uf.find(c.j)) {
      const [a, b] = await Promise.all([get(c.i), get(c.j)]);
      const r = a && b ? pearson(a.thumb, b.thumb) : 0;
      const d = a && b && r >= o.minCorrelation ? pearson(a.detail, b.detail) : 0;
      if (r >= o.minCorrelation && d >= o.minDetail) {
        found.add(c.i * n + c.j);
        uf.union(c.i, c.j);
        pairs.push({ i: c.i, j: c.j, kind: 'near', distance: c.distance, correlation: r, detail: d });
      }
    }
    release(c.i);
    release(c.j);
  }
  return { pairs, group: uf.groups(), candidates: cands.length };
}
