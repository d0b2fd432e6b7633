import { Rng } from '../util/rng.js';
import type { SparseMaps } from './sparse-maps.js';

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
  const table = aliasTable(p);
  for (let r = 0, j = 0; r < rows; r++) {
    for (let k = 0; k < wordsPerRow; k++, j++) {
      const n = k === wordsPerRow - 1 ? tail : 32;
      const w = aliasWord(table, rng, n);
      bits[j] = n === 32 ? w : w & tailMask;
    }
  }
}

/**
 * Up to 32 mask bits (the low n, rounded up to a multiple of 8) for dropout probability p: one
 * nextUint32() per 8 elements. The top 8 bits of a draw pick a column of the alias table, the low 24
 * bits choose between the column's pattern and its alias.
 */
function aliasWord(table: AliasTable, rng: Rng, n: number): number {
  const { threshold, alias } = table;
  let w = 0;
  for (let b = 0; b < n; b += 8) {
    const u = rng.nextUint32();
    const col = u >>> 24;
    const other = alias[col];
    // -1 when the low 24 bits fall below the column's threshold (keep the column's own pattern), else 0
    const own = ((u & 0xffffff) - threshold[col]) >> 31;
    w |= (other ^ ((col ^ other) & own)) << b;
  }
  return w;
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
 * Where each sample's dropout words start and how many of each word's bits belong to values (see
 * fillSparseMask): each row's nonzero values take ceil(count / 32) words, the last one partly used.
 */
export interface SparseMaskPlan {
  /** Words of sample s: [start[s], start[s + 1]). */
  readonly start: Int32Array;
  /** Bits used in each word (1 ... 32). */
  readonly used: Uint8Array;
}

/** The plan of the dropout words of every sample of `maps`. */
export function sparseMaskPlan(maps: SparseMaps): SparseMaskPlan {
  const rs = maps.rowStart;
  const start = new Int32Array(maps.samples + 1);
  let total = 0;
  for (let r = 0; r < maps.samples * maps.rows; r++) total += (rs[r + 1] - rs[r] + 31) >>> 5;
  const used = new Uint8Array(total);
  let w = 0;
  for (let s = 0, r = 0; s < maps.samples; s++) {
    start[s] = w;
    for (let end = r + maps.rows; r < end; r++) {
      for (let left = rs[r + 1] - rs[r]; left > 0; left -= 32) used[w++] = left < 32 ? left : 32;
    }
  }
  start[maps.samples] = w;
  return { start, used };
}

/**
 * Dropout bits for the nonzero values of sample s (1 = kept), laid out by the plan: bits past a
 * row's count are 0. Only nonzero inputs get a bit because a dropped zero and a kept zero contribute
 * the same nothing, so the trained head follows element-wise dropout's law while drawing about 1/8
 * of its bits on SqueezeNet maps. The bits come from their own stream seeded by `seed`
 * (splitmix32-seeded mulberry32, as Rng): at p = 0.5 that generator is inlined, one 32-bit draw per
 * word; other p use the alias sampler of fillDropoutMask (one draw per 8 bits); p = 0 keeps every
 * value. Returns the number of words written.
 */
export function fillSparseMask(bits: Uint32Array, plan: SparseMaskPlan, s: number, p: number, seed: number): number {
  const used = plan.used;
  const first = plan.start[s];
  const words = plan.start[s + 1] - first;
  if (p !== 0.5) {
    const rng = new Rng(seed);
    const table = p > 0 ? aliasTable(p) : null;
    for (let j = 0; j < words; j++) {
      const word = table === null ? -1 : aliasWord(table, rng, 32);
      bits[j] = word & (-1 >>> (32 - used[first + j]));
    }
    return words;
  }
  let z = ((seed >>> 0) + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  let state = z ^ (z >>> 16);
  for (let j = 0; j < words; j++) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    bits[j] = (t ^ (t >>> 14)) & (-1 >>> (32 - used[first + j]));
  }
  return words;
}
