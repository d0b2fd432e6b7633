/**
 * Feature maps stored as their nonzero values only. SqueezeNet's 512x13x13 maps are post-ReLU and
 * about 88% zeros on chest X-rays; a zero input adds exactly nothing to the conv head's sums and
 * gradients, so the head reads 1/8 of the bytes and dropout needs bits only for the nonzero values.
 * The conv head reads them position by position (mapsByPosition): each of the H x W positions holds
 * the nonzero channels there, so its two class sums stay in registers.
 */
import { UsageError } from '../errors.js';

/** n samples of rows x rowLength matrices, nonzero values in row-major order. */
export interface SparseMaps {
  readonly samples: number;
  readonly rows: number;
  readonly rowLength: number;
  /** Nonzero values (NaN counts as nonzero: it must reach the head, not vanish). */
  readonly values: Float32Array;
  /** Column of each value within its row (0 .. rowLength-1). */
  readonly columns: Uint16Array;
  /** values of row r of sample s: [rowStart[s * rows + r], rowStart[s * rows + r + 1]). */
  readonly rowStart: Int32Array;
}

/**
 * The nonzero values of n dense samples (n x rows x rowLength, contiguous), in one branch-free pass
 * (SqueezeNet's zeros are scattered at random, which a branch per value would mispredict): every
 * value is written at the next free slot, which advances only past nonzeros. The output starts with
 * room for 1/8 of the values (post-ReLU maps are mostly zeros), grows by half when a sample might
 * not fit, and is copied to its exact size at the end unless `trim` is false (then the arrays are
 * views of the larger buffers: for maps used once and dropped).
 */
export function sparseMaps(dense: Float32Array, n: number, rows: number, rowLength: number, trim = true): SparseMaps {
  if (rowLength > 65536) throw new UsageError(`sparse maps: rows of ${rowLength} values are too long for 16-bit column indices (at most 65536)`);
  const size = rows * rowLength;
  if (dense.length < n * size) throw new UsageError(`sparseMaps: ${dense.length} values for ${n} samples of ${size}`);
  // the float's bits with the sign cleared are 0 exactly for +0 and -0
  const bits = new Int32Array(dense.buffer, dense.byteOffset, n * size);
  const rowStart = new Int32Array(n * rows + 1);
  let values = new Float32Array(Math.max(size, Math.ceil((n * size) / 8)));
  let columns = new Uint16Array(values.length);
  let k = 0;
  for (let s = 0, i = 0, r = 0; s < n; s++) {
    if (values.length - k < size) {
      const grown = Math.max(values.length + size, Math.min(n * size + 1, Math.ceil(values.length * 1.5)));
      const v = new Float32Array(grown);
      v.set(values.subarray(0, k));
      values = v;
      const q = new Uint16Array(grown);
      q.set(columns.subarray(0, k));
      columns = q;
    }
    for (let row = 0; row < rows; row++, r++) {
      rowStart[r] = k;
      for (let q = 0; q < rowLength; q++, i++) {
        const m = bits[i] & 0x7fffffff;
        values[k] = dense[i];
        columns[k] = q;
        k += (m | -m) >>> 31;
      }
    }
  }
  rowStart[n * rows] = k;
  return trim
    ? { samples: n, rows, rowLength, values: values.slice(0, k), columns: columns.slice(0, k), rowStart }
    : { samples: n, rows, rowLength, values: values.subarray(0, k), columns: columns.subarray(0, k), rowStart };
}

/**
 * The nonzero values of n channel-major C x (H x W) maps, grouped by position: row q of a sample
 * holds the nonzero channels at position q in increasing channel order (columns = channels). Made
 * from sparseMaps() by a counting sort per sample, so the dense maps are read once, in order
 * (faster here than a strided pass by position or per-position buckets).
 */
export function mapsByPosition(dense: Float32Array, n: number, channels: number, positions: number): SparseMaps {
  if (channels > 65536) throw new UsageError(`sparse maps: ${channels} channels are too many for 16-bit channel indices (at most 65536)`);
  const byChannel = sparseMaps(dense, n, channels, positions, false);
  const nnz = byChannel.values.length;
  const values = new Float32Array(nnz);
  const columns = new Uint16Array(nnz);
  const rowStart = new Int32Array(n * positions + 1);
  const next = new Int32Array(positions);
  const cs = byChannel.rowStart;
  for (let s = 0; s < n; s++) {
    const first = cs[s * channels];
    const last = cs[(s + 1) * channels];
    next.fill(0);
    for (let k = first; k < last; k++) next[byChannel.columns[k]]++;
    for (let q = 0, at = first; q < positions; q++) {
      const count = next[q];
      rowStart[s * positions + q] = at;
      next[q] = at;
      at += count;
    }
    for (let c = 0, r = s * channels; c < channels; c++, r++) {
      for (let k = cs[r]; k < cs[r + 1]; k++) {
        const at = next[byChannel.columns[k]]++;
        values[at] = byChannel.values[k];
        columns[at] = c;
      }
    }
  }
  rowStart[n * positions] = nnz;
  return { samples: n, rows: positions, rowLength: channels, values, columns, rowStart };
}
