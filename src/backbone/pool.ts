// Pooling of feature maps, shared with the client page (no Node imports).

/** Mean over H x W of an [n, C, H, W] map → [n, C]. */
export function spatialMean(map: Float32Array, n: number, shape: [number, number, number]): Float32Array {
  const [c, h, w] = shape;
  const hw = h * w;
  const out = new Float32Array(n * c);
  for (let i = 0; i < n * c; i++) {
    let s = 0;
    const base = i * hw;
    for (let p = 0; p < hw; p++) s += map[base + p];
    out[i] = s / hw;
  }
  return out;
}
