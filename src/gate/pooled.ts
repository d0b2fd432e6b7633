import { spatialMean } from '../backbone/backbone.js';
import type { FeatureRows } from './density.js';

/**
 * The pooled vectors of chosen rows of a feature matrix: the rows themselves for pooled features,
 * or each feature map's spatial mean (what a global average pool gives, and the gate's feature
 * kind) when `mapShape` is given. Maps are pooled one row at a time, so a large matrix of
 * SqueezeNet maps is never copied.
 */
export function pooledRows(features: Float32Array, dim: number, rows: readonly number[], mapShape: [number, number, number] | null): FeatureRows {
  const outDim = mapShape ? mapShape[0] : dim;
  const data = new Float32Array(rows.length * outDim);
  rows.forEach((r, k) => {
    const row = features.subarray(r * dim, (r + 1) * dim);
    data.set(mapShape ? spatialMean(row, 1, mapShape) : row, k * outDim);
  });
  return { data, n: rows.length, dim: outDim };
}
