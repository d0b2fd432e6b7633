/**
 * The preprocessing that runs anywhere: Node and the browser bundle (export-web) share this module,
 * so it imports nothing from Node. It owns the geometry of torchvision's Resize(shorter) +
 * CenterCrop (sizes, zero padding, crop offset), the normalisation into the backbone's NCHW tensor,
 * and a plain-JavaScript antialiased resampler for where libvips is not available (the browser).
 * Node resizes with libvips (to-tensor.ts); the two resamplers differ by a grey level or two,
 * measured in test/preprocess.portable.test.ts and stated in README ("Run it in the browser").
 */
import type { PreprocessConfig } from './config.js';

/** Python's round(): halves go to the even neighbour (torchvision's CenterCrop uses it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Output size of torchvision `Resize(shorter)`: the longer side is truncated, not rounded. */
export function resizedSize(width: number, height: number, shorter: number): [number, number] {
  if (width <= height) return [shorter, Math.max(1, Math.floor((shorter * height) / width))];
  return [Math.max(1, Math.floor((shorter * width) / height)), shorter];
}

/** Where torchvision's Resize + CenterCrop put an image of this size: resized size, zero padding, crop offset. */
export function cropPlan(width: number, height: number, cfg: PreprocessConfig) {
  const [ch, cw] = cfg.crop;
  const [nw, nh] = resizedSize(width, height, cfg.resizeShorter);
  const padY = Math.max(0, ch - nh);
  const padX = Math.max(0, cw - nw);
  const top = roundHalfEven((nh + padY - ch) / 2);
  const left = roundHalfEven((nw + padX - cw) / 2);
  return { nw, nh, padX, padY, top, left };
}

/**
 * Writes the normalised NCHW tensor of one grey crop into `out` at `offset`: the grey value is
 * replicated to R, G and B, scaled to [0, 1] and normalised per channel. A 256-entry table per
 * channel keeps this a single pass of lookups.
 */
export function greyToTensor(pixels: Uint8Array, cfg: PreprocessConfig, out: Float32Array, offset = 0): void {
  const plane = pixels.length;
  for (let c = 0; c < 3; c++) {
    const lut = channelLut(cfg, c);
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = lut[pixels[i]];
  }
}

const lutCache = new Map<string, Float32Array>();
function channelLut(cfg: PreprocessConfig, c: number): Float32Array {
  const key = `${cfg.mean[c]}/${cfg.std[c]}`;
  let lut = lutCache.get(key);
  if (!lut) {
    lut = new Float32Array(256);
    // computed in float32 steps like torchvision: (x / 255 - mean) / std
    for (let v = 0; v < 256; v++) lut[v] = (Math.fround(v / 255) - Math.fround(cfg.mean[c])) / Math.fround(cfg.std[c]);
    lutCache.set(key, lut);
  }
  return lut;
}

/** Filter taps of one axis: for output index i, `count[i]` weights starting at input index `first[i]`. */
interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  stride: number;
}

const FILTERS = {
  nearest: { support: 0.5, f: (x: number) => (x >= -0.5 && x < 0.5 ? 1 : 0) },
  bilinear: { support: 1, f: (x: number) => Math.max(0, 1 - Math.abs(x)) },
  bicubic: {
    support: 2,
    f: (x: number) => {
      const a = -0.5, t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  lanczos3: {
    support: 3,
    f: (x: number) => {
      if (x === 0) return 1;
      if (Math.abs(x) >= 3) return 0;
      const px = Math.PI * x;
      return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
    },
  },
} as const;

/**
 * Taps for the output indices `from .. from + n - 1` of a resize from `inSize` to `outSize`, as
 * PIL's (and torchvision's antialiased) resampling: the filter is widened by the shrink factor,
 * centred on each output pixel's centre, and its weights normalised to sum to one.
 */
function axisTaps(inSize: number, outSize: number, from: number, n: number, kind: PreprocessConfig['interpolation']): Taps {
  const { support: base, f } = FILTERS[kind];
  const scale = inSize / outSize;
  const widen = Math.max(scale, 1);
  const support = base * widen;
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Float64Array(n * stride);
  for (let k = 0; k < n; k++) {
    const i = from + k;
    if (i < 0 || i >= outSize) continue; // zero padding: no taps
    const centre = (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support + 0.5));
    const hi = Math.min(inSize, Math.floor(centre + support + 0.5));
    let sum = 0;
    for (let x = lo; x < hi; x++) sum += weights[k * stride + x - lo] = f((x - centre + 0.5) / widen);
    if (sum === 0) continue;
    for (let x = lo; x < hi; x++) weights[k * stride + x - lo] /= sum;
    first[k] = lo;
    count[k] = hi - lo;
  }
  return { first, count, weights, stride };
}

/**
 * Resize(shorter) + CenterCrop of an 8-bit grey image in plain JavaScript (no libvips): only the
 * cropped region is computed, rows first then columns, in floating point, rounded once at the end.
 * Returns crop[0] x crop[1] grey pixels; areas outside the resized image are zero, as torchvision pads.
 */
export function resizeAndCropGrey(data: Uint8Array | Uint8ClampedArray, width: number, height: number, cfg: PreprocessConfig): Uint8Array {
  const [ch, cw] = cfg.crop;
  const { nw, nh, padX, padY, top, left } = cropPlan(width, height, cfg);
  // crop index k maps to resized index k + offset - pad (torchvision pads before cropping)
  const x0 = left - Math.floor(padX / 2);
  const y0 = top - Math.floor(padY / 2);
  const tx = axisTaps(width, nw, x0, cw, cfg.interpolation);
  const ty = axisTaps(height, nh, y0, ch, cfg.interpolation);
  // rows of the source that any output row reads
  let rowLo = height, rowHi = 0;
  for (let k = 0; k < ch; k++) {
    if (ty.count[k] === 0) continue;
    rowLo = Math.min(rowLo, ty.first[k]);
    rowHi = Math.max(rowHi, ty.first[k] + ty.count[k]);
  }
  const out = new Uint8Array(ch * cw);
  if (rowHi <= rowLo) return out;
  const horiz = new Float32Array((rowHi - rowLo) * cw);
  for (let y = rowLo; y < rowHi; y++) {
    const src = y * width;
    const dst = (y - rowLo) * cw;
    for (let k = 0; k < cw; k++) {
      const n = tx.count[k];
      const w = k * tx.stride;
      const x = src + tx.first[k];
      let s = 0;
      for (let j = 0; j < n; j++) s += tx.weights[w + j] * data[x + j];
      horiz[dst + k] = s;
    }
  }
  for (let k = 0; k < ch; k++) {
    const n = ty.count[k];
    if (n === 0) continue;
    const w = k * ty.stride;
    const r = ty.first[k] - rowLo;
    for (let c = 0; c < cw; c++) {
      if (tx.count[c] === 0) continue;
      let s = 0;
      for (let j = 0; j < n; j++) s += ty.weights[w + j] * horiz[(r + j) * cw + c];
      out[k * cw + c] = Math.min(255, Math.max(0, Math.round(s)));
    }
  }
  return out;
}
