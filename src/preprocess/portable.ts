/**
 * The preprocessing that runs anywhere: Node and the browser bundle (export-web) share this module,
 * so it imports nothing from Node. It owns the geometry of torchvision's Resize(shorter) +
 * CenterCrop (sizes, zero padding, crop offset), the normalisation into the backbone's NCHW tensor,
 * and a plain-JavaScript antialiased resampler for where libvips is not available (the browser).
 * Node resizes with libvips (to-tensor.ts); the two resamplers differ by a grey level or two,
 * measured in test/preprocess.portable.test.ts and stated in README ("Run it in the browser").
 */
import type { PreprocessConfig } from './config.js';
import { standardiseGrey } from './grey-levels.js';
import { keepLungField } from './lung-region.js';

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
 * Writes the normalised NCHW tensor of one grey crop into `out` at `offset`: only the lung fields
 * are kept when the contract says so (`lungField`), the grey levels are
 * standardised when it says so (`greyLevels`), then the grey value is replicated to R, G and B, scaled to [0, 1] and normalised per channel. A 256-entry table per
 * channel keeps this a single pass of lookups.
 */
export function greyToTensor(pixels: Uint8Array, cfg: PreprocessConfig, out: Float32Array, offset = 0): void {
  // the contract's robustness options act on the crop, here, so that every path (training,
  // prediction, the browser) applies them the same way; the lungs are cut out first, so that
  // nothing outside them reaches the standardisation's histogram either
  if (cfg.lungField) pixels = keepLungField(pixels, cfg.crop[1], cfg.crop[0], cfg.lungField);
  if (cfg.greyLevels) pixels = standardiseGrey(pixels, cfg.crop[1], cfg.crop[0], cfg.greyLevels);
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

/** Filter taps of one axis: for output index i, `count` weights starting at input index `first[i]` (edges repeat). */
interface Taps {
  first: Int32Array;
  count: number;
  weights: Float64Array;
  /** False where the output index lies in torchvision's zero padding. */
  inside: Uint8Array;
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
 * Taps for the output indices `from .. from + n - 1` of a resize from `inSize` to `outSize`, laid
 * out as libvips' reduce does: the filter widened by the shrink factor (antialiasing), centred on
 * (i + 0.5) * scale - 0.5, weights normalised to sum to one.
 */
function axisTaps(inSize: number, outSize: number, from: number, n: number, kind: PreprocessConfig['interpolation']): Taps {
  const { support: base, f } = FILTERS[kind];
  const scale = inSize / outSize;
  const widen = Math.max(scale, 1);
  const count = Math.ceil(2 * base * widen) + 1;
  const first = new Int32Array(n);
  const weights = new Float64Array(n * count);
  const inside = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const i = from + k;
    if (i < 0 || i >= outSize) continue;
    inside[k] = 1;
    const centre = (i + 0.5) * scale - 0.5;
    const lo = Math.floor(centre) - Math.floor(count / 2) + 1;
    let sum = 0;
    for (let j = 0; j < count; j++) sum += weights[k * count + j] = f((lo + j - centre) / widen);
    for (let j = 0; j < count; j++) weights[k * count + j] /= sum;
    first[k] = lo;
  }
  return { first, count, weights, inside };
}

/**
 * Resize(shorter) + CenterCrop of an 8-bit grey image in plain JavaScript (no libvips), following
 * libvips' order so that it lands within a grey level or two of Node's sharp path: columns first
 * (vertical pass, rounded to 8 bits), then rows; only the cropped region is computed. Returns
 * crop[0] x crop[1] grey pixels; areas outside the resized image are zero, as torchvision pads.
 */
export function resizeAndCropGrey(data: Uint8Array | Uint8ClampedArray, width: number, height: number, cfg: PreprocessConfig): Uint8Array {
  const [ch, cw] = cfg.crop;
  const { nw, nh, padX, padY, top, left } = cropPlan(width, height, cfg);
  // crop index k maps to resized index k + offset - pad (torchvision pads before cropping)
  const tx = axisTaps(width, nw, left - Math.floor(padX / 2), cw, cfg.interpolation);
  const ty = axisTaps(height, nh, top - Math.floor(padY / 2), ch, cfg.interpolation);
  const clampX = (x: number) => (x < 0 ? 0 : x >= width ? width - 1 : x);
  const clampY = (y: number) => (y < 0 ? 0 : y >= height ? height - 1 : y);
  // source columns any output column reads
  let colLo = width, colHi = 0;
  for (let k = 0; k < cw; k++) {
    if (!tx.inside[k]) continue;
    colLo = Math.min(colLo, clampX(tx.first[k]));
    colHi = Math.max(colHi, clampX(tx.first[k] + tx.count - 1) + 1);
  }
  const out = new Uint8Array(ch * cw);
  if (colHi <= colLo) return out;
  const span = colHi - colLo;
  const vert = new Uint8Array(ch * span);
  // the sums run tap by tap over whole rows (the same additions in the same order as one pixel
  // at a time, so the same result), with the edge clamping worked out once per tap, not per pixel
  const acc = new Float64Array(span);
  const yw = ty.weights, yn = ty.count;
  for (let k = 0; k < ch; k++) {
    if (!ty.inside[k]) continue;
    acc.fill(0);
    for (let j = 0; j < yn; j++) addRow(acc, yw[k * yn + j], data, clampY(ty.first[k] + j) * width + colLo, span);
    roundRow(acc, vert, k * span, span);
  }
  const xw = tx.weights, xn = tx.count;
  const at = new Int32Array(cw * xn);
  for (let c = 0; c < cw; c++) for (let j = 0; j < xn; j++) at[c * xn + j] = clampX(tx.first[c] + j) - colLo;
  for (let k = 0; k < ch; k++) if (ty.inside[k]) filterRow(vert, k * span, xw, at, xn, tx.inside, out, k * cw, cw);
  return out;
}

// The resampler's inner loops, each a small function of its own so that V8 optimises them well.

function addRow(acc: Float64Array, w: number, data: Uint8Array | Uint8ClampedArray, src: number, n: number): void {
  for (let x = 0; x < n; x++) acc[x] += w * data[src + x];
}

/** Rounds halves up (Math.round but for 0.5 - 2^-54, which no sum of 8-bit taps comes near) and clamps to 0..255: Math.round is slower here. */
function roundRow(acc: Float64Array, out: Uint8Array, at: number, n: number): void {
  for (let x = 0; x < n; x++) {
    const v = Math.floor(acc[x] + 0.5);
    out[at + x] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}

function filterRow(src: Uint8Array, from: number, weights: Float64Array, at: Int32Array, taps: number, inside: Uint8Array, out: Uint8Array, to: number, n: number): void {
  for (let c = 0; c < n; c++) {
    if (!inside[c]) continue;
    const w = c * taps;
    let s = 0;
    for (let j = 0; j < taps; j++) s += weights[w + j] * src[from + at[w + j]];
    const v = Math.floor(s + 0.5);
    out[to + c] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
}
