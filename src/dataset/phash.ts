/**
 * 64-bit DCT perceptual hash (pHash): the 8x8 lowest frequencies of the 2-D DCT-II of a 32x32
 * grey thumbnail, one bit per coefficient, set when the coefficient is above their median.
 * Stored as four 16-bit words (bits 0–15, 16–31, …) so that hashes live in typed arrays.
 */

const N = 32;
const K = 8;
// COS[u * N + x] = cos(pi (2x + 1) u / 2N)
const COS = (() => {
  const t = new Float64Array(K * N);
  for (let u = 0; u < K; u++) for (let x = 0; x < N; x++) t[u * N + x] = Math.cos((Math.PI * (2 * x + 1) * u) / (2 * N));
  return t;
})();

/** pHash of a 32x32 thumbnail (1024 bytes, row-major) into `out` at `offset` (4 words). */
export function phash32(thumb: Uint8Array, out: Uint16Array = new Uint16Array(4), offset = 0): Uint16Array {
  if (thumb.length !== N * N) throw new RangeError(`phash32 needs a 32x32 thumbnail, got ${thumb.length} bytes`);
  // separable DCT: rows first (only K frequencies), then columns
  const rows = new Float64Array(N * K);
  for (let y = 0; y < N; y++) {
    for (let u = 0; u < K; u++) {
      let s = 0;
      for (let x = 0; x < N; x++) s += thumb[y * N + x] * COS[u * N + x];
      rows[y * K + u] = s;
    }
  }
  const coef = new Float64Array(K * K);
  for (let v = 0; v < K; v++) {
    for (let u = 0; u < K; u++) {
      let s = 0;
      for (let y = 0; y < N; y++) s += rows[y * K + u] * COS[v * N + y];
      coef[v * K + u] = s;
    }
  }
  const sorted = Float64Array.from(coef).sort();
  const median = (sorted[31] + sorted[32]) / 2;
  out.fill(0, offset, offset + 4);
  for (let i = 0; i < 64; i++) if (coef[i] > median) out[offset + (i >> 4)] |= 1 << (i & 15);
  return out;
}

/** Popcount of every 16-bit value. */
export const POPCOUNT16 = (() => {
  const t = new Uint8Array(65536);
  for (let i = 1; i < 65536; i++) t[i] = t[i >> 1] + (i & 1);
  return t;
})();

/** Hamming distance between hash i of `a` and hash j of `b` (each 4 words per hash). */
export function hamming(a: Uint16Array, i: number, b: Uint16Array, j: number): number {
  const p = i * 4;
  const q = j * 4;
  return POPCOUNT16[a[p] ^ b[q]] + POPCOUNT16[a[p + 1] ^ b[q + 1]] + POPCOUNT16[a[p + 2] ^ b[q + 2]] + POPCOUNT16[a[p + 3] ^ b[q + 3]];
}

/** A hash as 16 hex digits (most significant word first), for reports. */
export function hashHex(h: Uint16Array, i = 0): string {
  let s = '';
  for (let w = 3; w >= 0; w--) s += h[i * 4 + w].toString(16).padStart(4, '0');
  return s;
}
