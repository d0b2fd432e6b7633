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
 * Fills `bits` with a fresh dropout mask: each element is dropped with probability p (bit 0), kept
 * otherwise (bit 1). For p = 0.5 one nextUint32() gives 32 elements. For other p each element compares
 * a uniform U, revealed 8 random bits at a time, with the binary expansion of p and stops at the first
 * differing byte (drop iff U < p): exact for the double p, and 4 elements per nextUint32() except for
 * the rare (1/256) ties.
 */
export function fillDropoutMask(bits: Uint32Array, layout: MaskLayout, p: number, rng: Rng): void {
  const { rows, rowLength, wordsPerRow } = layout;
  const tail = rowLength - 32 * (wordsPerRow - 1);
  const tailMask = tail === 32 ? 0xffffffff : ((1 << tail) - 1) >>> 0;
  if (p === 0.5) {
    for (let r = 0, j = 0; r < rows; r++) {
      for (let k = 0; k < wordsPerRow - 1; k++, j++) bits[j] = rng.nextUint32();
      bits[j++] = rng.nextUint32() & tailMask;
    }
    return;
  }
  const digits = binaryBytes(p);
  const nd = digits.length;
  const first = digits[0];
  let pool = 0;
  let left = 0;
  for (let r = 0, j = 0; r < rows; r++) {
    let remaining = rowLength;
    for (let k = 0; k < wordsPerRow; k++, j++) {
      const n = remaining < 32 ? remaining : 32;
      let w = 0;
      for (let b = 0; b < n; b++) {
        if (left === 0) {
          pool = rng.nextUint32();
          left = 4;
        }
        let u = pool & 255;
        pool >>>= 8;
        left--;
        let keep = u > first ? 1 : 0;
        if (u === first) {
          keep = 1; // U equals p on every byte: U >= p
          for (let i = 1; i < nd; i++) {
            if (left === 0) {
              pool = rng.nextUint32();
              left = 4;
            }
            u = pool & 255;
            pool >>>= 8;
            left--;
            if (u !== digits[i]) {
              keep = u > digits[i] ? 1 : 0;
              break;
            }
          }
        }
        w |= keep << b;
      }
      bits[j] = w >>> 0;
      remaining -= n;
    }
  }
}

const byteCache = new Map<number, Uint8Array>();

/** Binary expansion of p in (0, 1) after the point, as bytes (most significant first), up to the last 1. */
function binaryBytes(p: number): Uint8Array {
  let d = byteCache.get(p);
  if (d) return d;
  const out: number[] = [];
  let x = p;
  while (x > 0 && out.length < 140) {
    x *= 256; // exact in binary floating point
    const byte = Math.floor(x);
    out.push(byte);
    x -= byte;
  }
  d = Uint8Array.from(out);
  byteCache.set(p, d);
  return d;
}
