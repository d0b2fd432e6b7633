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
 * The nonzero values of n dense samples (n x rows x rowLength, contiguous), in two passes (count,
 * then copy) so that the result is allocated once at its exact size. Both passes are branch-free:
 * SqueezeNet's zeros are scattered at random, which a branch per value would mispredict.
 */
export function sparseMaps(dense: Float32Array, n: number, rows: number, rowLength: number): SparseMaps {
  if (rowLength > 65536) throw new UsageError(`feature maps of ${rowLength} positions per channel are too large for the conv head (at most 65536)`);
  const size = rows * rowLength;
  if (dense.length < n * size) throw new UsageError(`sparseMaps: ${dense.length} values for ${n} samples of ${size}`);
  // the float's bits with the sign cleared are 0 exactly for +0 and -0
  const bits = new Int32Array(dense.buffer, dense.byteOffset, n * size);
  const rowStart = new Int32Array(n * rows + 1);
  let total = 0;
  for (let i = 0, r = 0; r < n * rows; r++) {
    rowStart[r] = total;
    for (const end = i + rowLength; i < end; i++) {
      const m = bits[i] & 0x7fffffff;
      total += (m | -m) >>> 31;
    }
  }
  rowStart[n * rows] = total;
  // one slot of slack: every value is written, then kept by advancing k only past nonzeros
  const values = new Float32Array(total + 1);
  const positions = new Uint16Array(total + 1);
  for (let i = 0, k = 0; i < n * size; i += rowLength) {
    for (let q = 0; q < rowLength; q++) {
      const m = bits[i + q] & 0x7fffffff;
      values[k] = dense[i + q];
      positions[k] = q;
      k += (m | -m) >>> 31;
    }
  }
  return { samples: n, rows, rowLength, values: values.subarray(0, total), positions: positions.subarray(0, total), rowStart };
}
