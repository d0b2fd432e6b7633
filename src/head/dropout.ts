import type { Rng } from '../util/rng.js';

/**
 * Element-wise dropout masks stored as bits (1 = kept). A mask covers `rows` rows of `rowLength`
 * elements; every row starts on a fresh 32-bit word so that kernels can walk a channel's kept
 * positions with bit tricks. Unused tail bits are always 0.
 */
export interface MaskLayout {
  rows: number;
  rowLength: number;
  wordsPerRow: number;
}

/** Layout for `rows` x `rowLength` elements. */
export function maskLayout(rows: number, rowLength: number): MaskLayout {
  return { rows, rowLength, wordsPerRow: Math.ceil(rowLength / 32) };
}

/** Number of Uint32 words one mask needs. */
export function maskWords(layout: MaskLayout): number {
  return layout.rows * layout.wordsPerRow;
}

/**
 * Fills `bits` with a fresh dropout mask: each element is dropped (bit 0) with probability p, kept
 * (bit 1) otherwise, independently.
 * - p = 0.5: one nextUint32() gives 32 elements (exact).
 * - p = 0: every element kept, no draws.
 * - other p: one nextUint32() gives 8 elements at once, by sampling the 8-bit keep pattern from its
 *   exact distribution (p^drops (1-p)^kept) with Walker's alias method: the top 8 bits pick a column,
 *   the low 24 bits choose between the column's pattern and its alias. Pattern probabilities are
 *   exact up to the 24-bit quantisation of the thresholds, so the drop rate is p within ~1e-7.
 */
export function fillDropoutMask(bits: Uint32Array, layout: MaskLayout, p: number, rng: Rng): void {
  const { rows, rowLength, wordsPerRow } = layout;
  const tail = rowLength - 32 * (wordsPerRow - 1);
  const tailMask = tail === 32 ? -1 : (1 << tail) - 1;
  if (p === 0.5 || p === 0) {
    const half = p === 0.5;
    for (let r = 0, j = 0; r < rows; r++) {
      for (let k = 0; k < wordsPerRow - 1; k++, j++) bits[j] = half ? rng.nextUint32() : -1;
      bits[j++] = (half ? rng.nextUint32() : -1) & tailMask;
    }
    return;
  }
  const { threshold, alias } = aliasTable(p);
  for (let r = 0, j = 0; r < rows; r++) {
    for (let k = 0; k < wordsPerRow; k++, j++) {
      const n = k === wordsPerRow - 1 ? tail : 32;
      let w = 0;
      for (let b = 0; b < n; b += 8) {
        const u = rng.nextUint32();
        const col = u >>> 24;
        const other = alias[col];
        // -1 when the low 24 bits fall below the column's threshold (keep the column's own pattern), else 0
        const own = ((u & 0xffffff) - threshold[col]) >> 31;
        w |= (other ^ ((col ^ other) & own)) << b;
      }
      bits[j] = n === 32 ? w : w & tailMask;
    }
  }
}

interface AliasTable {
  /** Column i keeps pattern i when the low 24 bits of the draw are below threshold[i] (0 ... 2^24). */
  threshold: Int32Array;
  alias: Uint8Array;
}

const aliasCache = new Map<number, AliasTable>();

/**
 * Probability of each 8-element keep pattern (bit 1 = kept) that fillDropoutMask's alias table gives
 * for p; exposed so that tests can compare it with the exact p^drops (1-p)^kept.
 */
export function aliasPatternProbabilities(p: number): Float64Array {
  const { threshold, alias } = aliasTable(p);
  const out = new Float64Array(256);
  for (let col = 0; col < 256; col++) {
    const own = threshold[col] / 16777216;
    out[col] += own / 256;
    out[alias[col]] += (1 - own) / 256;
  }
  return out;
}

/** Walker/Vose alias table of the 256 keep patterns of 8 independent elements (bit 1 = kept). */
function aliasTable(p: number): AliasTable {
  const cached = aliasCache.get(p);
  if (cached) return cached;
  const scaled = new Float64Array(256);
  for (let i = 0; i < 256; i++) {
    let kept = 0;
    for (let b = 0; b < 8; b++) kept += (i >>> b) & 1;
    scaled[i] = 256 * (1 - p) ** kept * p ** (8 - kept);
  }
  const threshold = new Int32Array(256);
  const alias = new Uint8Array(256);
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 0; i < 256; i++) (scaled[i] < 1 ? small : large).push(i);
  while (small.length > 0 && large.length > 0) {
    const s = small.pop()!;
    const l = large[large.length - 1];
    threshold[s] = Math.round(scaled[s] * 16777216);
    alias[s] = l;
    scaled[l] -= 1 - scaled[s];
    if (scaled[l] < 1) small.push(large.pop()!);
  }
  // leftovers are 1 up to rounding: always their own pattern
  for (const i of [...small, ...large]) {
    threshold[i] = 16777216;
    alias[i] = i;
  }
  const table = { threshold, alias };
  aliasCache.set(p, table);
  return table;
}

/**
 * Bitmaps of the nonzero elements of n samples (same layout as a dropout mask, one mask per sample,
 * rows x rowLength values each). A dropout mask ANDed with a sample's bitmap drops nothing that
 * contributes: zero inputs (+0 or -0) add exactly 0 to the head's sums and gradients. When `copyTo`
 * is given, the features are also copied into it in the same pass.
 */
export function nonzeroBits(features: Float32Array, n: number, layout: MaskLayout, out?: Uint32Array, copyTo?: Float32Array): Uint32Array {
  const { rows, rowLength, wordsPerRow } = layout;
  const words = rows * wordsPerRow;
  const res = out ?? new Uint32Array(n * words);
  // test the float bits (sign masked off) without a branch: random zero patterns defeat prediction
  const bitsOf = new Int32Array(features.buffer, features.byteOffset, n * rows * rowLength);
  const copy = copyTo ? new Int32Array(copyTo.buffer, copyTo.byteOffset, n * rows * rowLength) : null;
  for (let s = 0, x = 0, j = 0; s < n; s++) {
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < wordsPerRow; k++, j++) {
        const m = rowLength - 32 * k < 32 ? rowLength - 32 * k : 32;
        let w = 0;
        for (let b = 0; b < m; b++, x++) {
          const raw = bitsOf[x];
          if (copy !== null) copy[x] = raw;
          const v = raw & 0x7fffffff;
          w |= ((v | -v) >>> 31) << b;
        }
        res[j] = w;
      }
    }
  }
  return res;
}

/**
 * bits[j] = (p = 0.5 dropout word j) & nonzero[nonzeroOff + j] for j < words: the same words as
 * fillDropoutMask(bits, layout, 0.5, new Rng(seed)) ANDed with the bitmap (tail bits come out 0
 * because the bitmap's are), with Rng's generator (splitmix32-seeded mulberry32) inlined on a local
 * state, which is about 3x faster than calling Rng.nextUint32() per word.
 */
export function fillHalfMaskAnd(bits: Uint32Array, words: number, seed: number, nonzero: Uint32Array, nonzeroOff: number): void {
  let z = ((seed >>> 0) + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  let state = z ^ (z >>> 16);
  for (let j = 0; j < words; j++) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    bits[j] = (t ^ (t >>> 14)) & nonzero[nonzeroOff + j];
  }
}
