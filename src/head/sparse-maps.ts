/**
 * Feature maps stored as their nonzero values only. SqueezeNet's 512x13x13 maps are post-ReLU and
 * about 88% zeros on chest X-rays; a zero input adds exactly nothing to the conv head's sums and
 * gradients, so the head reads 1/8 of the bytes and dropout needs bits only for the nonzero values.
 */
import { UsageError } from '../errors.js';

/** n samples of rows x rowLength maps (row = channel), nonzero values in row-major order. */
export interface SparseMaps {
  readonly samples: number;
  readonly rows: number;
  readonly rowLength: number;
  /** Nonzero values (NaN counts as nonzero: it must reach the head, not vanish). */
  readonly values: Float32Array;
  /** Position of each value within its row (0 .. rowLength-1). */
  readonly positions: Uint16Array;
  /** values of row r of sample s: [rowStart[s * rows + r], rowStart[s * rows + r + 1]). */
  readonly rowStart: Int32Array;
}

/**
 * The nonzero values of n dense samples (n x rows x rowLength, contiguous), in one branch-free pass
 * (SqueezeNet's zeros are scattered at random, which a branch per value would mispredict): every
 * value is written at the next free slot, which advances only past nonzeros. The output grows by
 * half when a sample might not fit, and is trimmed at the end.
 */
export function sparseMaps(dense: Float32Array, n: number, rows: number, rowLength: number): SparseMaps {
  if (rowLength > 65536) throw new UsageError(`feature maps of ${rowLength} positions per channel are too large for the conv head (at most 65536)`);
  const size = rows * rowLength;
  if (dense.length < n * size) throw new UsageError(`sparseMaps: ${dense.length} values for ${n} samples of ${size}`);
  // the float's bits with the sign cleared are 0 exactly for +0 and -0
  const bits = new Int32Array(dense.buffer, dense.byteOffset, n * size);
  const rowStart = new Int32Array(n * rows + 1);
  // room for a quarter of the values to begin with (post-ReLU maps are mostly zeros)
  let values = new Float32Array(Math.max(size, Math.ceil((n * size) / 4)));
  let positions = new Uint16Array(values.length);
  let k = 0;
  for (let s = 0, i = 0, r = 0; s < n; s++) {
    if (values.length - k < size) {
      const grown = Math.max(values.length + size, Math.min(n * size + 1, Math.ceil(values.length * 1.5)));
      const v = new Float32Array(grown);
      v.set(values.subarray(0, k));
      values = v;
      const q = new Uint16Array(grown);
      q.set(positions.subarray(0, k));
      positions = q;
    }
    for (let row = 0; row < rows; row++, r++) {
      rowStart[r] = k;
      for (let q = 0; q < rowLength; q++, i++) {
        const m = bits[i] & 0x7fffffff;
        values[k] = dense[i];
        positions[k] = q;
        k += (m | -m) >>> 31;
      }
    }
  }
  rowStart[n * rows] = k;
  return { samples: n, rows, rowLength, values: values.slice(0, k), positions: positions.slice(0, k), rowStart };
}
