/**
 * Grey-level standardisation of the cropped grey image, a robustness option of the preprocessing
 * contract (`PreprocessConfig.greyLevels`): X-ray collections differ in exposure, windowing and
 * film processing, and a backbone can recognise a hospital from its grey-level histogram alone.
 * Mapping every crop onto a standard histogram removes part of that cue. Plain JavaScript with no
 * Node imports: the browser bundle (export-web) runs the same code through `greyToTensor`.
 */

/** A grey-level standardisation; absent in a contract means none (the paper's recipe). */
export type GreyLevels =
  /** Contrast-limited adaptive histogram equalisation (Zuiderveld 1994; OpenCV's conventions). */
  | { method: 'clahe'; tiles: number; clipLimit: number }
  /** Global histogram equalisation. */
  | { method: 'equalize' }
  /** Linear stretch of the [low, high] percentiles onto 0..255 (clamped outside). */
  | { method: 'stretch'; low: number; high: number };

/** Names of the methods, with the parameters each gets when chosen by name. */
export const GREY_LEVEL_PRESETS: Readonly<Record<GreyLevels['method'], GreyLevels>> = Object.freeze({
  clahe: { method: 'clahe', tiles: 8, clipLimit: 2 },
  equalize: { method: 'equalize' },
  stretch: { method: 'stretch', low: 1, high: 99 },
});

/** Checks a standardisation's parameters; returns a message naming the bad one, or null. */
export function greyLevelsProblem(g: GreyLevels): string | null {
  switch (g.method) {
    case 'clahe':
      if (!Number.isInteger(g.tiles) || g.tiles < 1 || g.tiles > 64) return `clahe tiles=${g.tiles} must be an integer in 1..64`;
      if (!(g.clipLimit >= 1) || !Number.isFinite(g.clipLimit)) return `clahe clipLimit=${g.clipLimit} must be a number >= 1`;
      return null;
    case 'equalize':
      return null;
    case 'stretch':
      if (!(g.low >= 0 && g.low < g.high && g.high <= 100)) return `stretch percentiles ${g.low}..${g.high} must satisfy 0 <= low < high <= 100`;
      return null;
    default:
      return `unknown grey-level method ${JSON.stringify((g as { method: unknown }).method)} (known: clahe, equalize, stretch)`;
  }
}

/** Returns a new width x height grey image with its grey levels standardised as `g` says. */
export function standardiseGrey(pixels: Uint8Array, width: number, height: number, g: GreyLevels): Uint8Array {
  if (pixels.length !== width * height) throw new Error(`internal: ${pixels.length} pixels for a ${width}x${height} image`);
  switch (g.method) {
    case 'clahe':
      return clahe(pixels, width, height, g.tiles, g.clipLimit);
    case 'equalize':
      return applyLut(pixels, equalizeLut(histogram(pixels, 0, 0, width, height, width), pixels.length));
    case 'stretch':
      return applyLut(pixels, stretchLut(histogram(pixels, 0, 0, width, height, width), pixels.length, g.low, g.high));
  }
}

function histogram(pixels: Uint8Array, x0: number, y0: number, x1: number, y1: number, stride: number): Uint32Array {
  const h = new Uint32Array(256);
  for (let y = y0; y < y1; y++) for (let x = x0, i = y * stride + x0; x < x1; x++, i++) h[pixels[i]]++;
  return h;
}

function applyLut(pixels: Uint8Array, lut: Uint8Array): Uint8Array {
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = lut[pixels[i]];
  return out;
}

/** Histogram equalisation as OpenCV's equalizeHist: the lowest occupied level goes to 0. */
function equalizeLut(h: Uint32Array, n: number): Uint8Array {
  const lut = new Uint8Array(256);
  let lo = 0;
  while (lo < 255 && h[lo] === 0) lo++;
  const denom = n - h[lo];
  if (denom === 0) {
    lut.fill(lo);
    return lut;
  }
  let cdf = 0;
  for (let v = lo + 1; v < 256; v++) {
    cdf += h[v];
    lut[v] = Math.round((cdf * 255) / denom);
  }
  return lut;
}

/** The grey level below which `q` percent of the pixels lie (lowest such level). */
function percentileLevel(h: Uint32Array, n: number, q: number): number {
  const target = (q / 100) * n;
  let cum = 0;
  for (let v = 0; v < 256; v++) {
    cum += h[v];
    if (cum >= target && cum > 0) return v;
  }
  return 255;
}

function stretchLut(h: Uint32Array, n: number, low: number, high: number): Uint8Array {
  const lo = percentileLevel(h, n, low);
  const hi = percentileLevel(h, n, high);
  const lut = new Uint8Array(256);
  if (hi <= lo) {
    for (let v = 0; v < 256; v++) lut[v] = v;
    return lut;
  }
  for (let v = 0; v < 256; v++) lut[v] = Math.min(255, Math.max(0, Math.round(((v - lo) * 255) / (hi - lo))));
  return lut;
}

/**
 * CLAHE: a tiles x tiles grid, each tile's histogram clipped at clipLimit times the mean bin count
 * (the excess spread evenly over all bins, as OpenCV does), its equalisation table built, and every
 * pixel mapped by bilinear interpolation between the tables of the four nearest tile centres.
 */
function clahe(pixels: Uint8Array, width: number, height: number, tiles: number, clipLimit: number): Uint8Array {
  const tx = Math.min(tiles, width);
  const ty = Math.min(tiles, height);
  const luts = new Float32Array(tx * ty * 256);
  const xEdge = (k: number) => Math.round((k * width) / tx);
  const yEdge = (k: number) => Math.round((k * height) / ty);
  for (let j = 0; j < ty; j++) {
    for (let i = 0; i < tx; i++) {
      const x0 = xEdge(i), x1 = xEdge(i + 1), y0 = yEdge(j), y1 = yEdge(j + 1);
      const area = (x1 - x0) * (y1 - y0);
      const h = histogram(pixels, x0, y0, x1, y1, width);
      const limit = Math.max(1, Math.floor((clipLimit * area) / 256));
      let excess = 0;
      for (let v = 0; v < 256; v++) {
        if (h[v] > limit) {
          excess += h[v] - limit;
          h[v] = limit;
        }
      }
      const share = Math.floor(excess / 256);
      const residual = excess - share * 256;
      for (let v = 0; v < 256; v++) h[v] += share;
      // the residual goes to evenly spaced bins, as OpenCV spreads it
      if (residual > 0) {
        const step = Math.max(1, Math.floor(256 / residual));
        for (let v = 0, left = residual; v < 256 && left > 0; v += step, left--) h[v]++;
      }
      const base = (j * tx + i) * 256;
      const scale = 255 / Math.max(1, area);
      let cdf = 0;
      for (let v = 0; v < 256; v++) {
        cdf += h[v];
        luts[base + v] = Math.min(255, cdf * scale);
      }
    }
  }
  // tile centres; pixels beyond the outer centres use the nearest table(s)
  const out = new Uint8Array(pixels.length);
  const tileW = width / tx;
  const tileH = height / ty;
  for (let y = 0; y < height; y++) {
    const fy = (y + 0.5) / tileH - 0.5;
    const j0 = Math.max(0, Math.min(ty - 1, Math.floor(fy)));
    const j1 = Math.min(ty - 1, j0 + 1);
    const wy = Math.max(0, Math.min(1, fy - j0));
    for (let x = 0; x < width; x++) {
      const fx = (x + 0.5) / tileW - 0.5;
      const i0 = Math.max(0, Math.min(tx - 1, Math.floor(fx)));
      const i1 = Math.min(tx - 1, i0 + 1);
      const wx = Math.max(0, Math.min(1, fx - i0));
      const v = pixels[y * width + x];
      const a = luts[(j0 * tx + i0) * 256 + v], b = luts[(j0 * tx + i1) * 256 + v];
      const c = luts[(j1 * tx + i0) * 256 + v], d = luts[(j1 * tx + i1) * 256 + v];
      const top = a + (b - a) * wx;
      const bottom = c + (d - c) * wx;
      out[y * width + x] = Math.round(top + (bottom - top) * wy);
    }
  }
  return out;
}
