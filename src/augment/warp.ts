import type { GreyImage } from '../input/grey-image.js';
import type { AugmentDraw } from './params.js';

/** A 2x3 affine matrix [a, b, tx, c, d, ty]: x' = a x + b y + tx, y' = c x + d y + ty. */
export type Affine = [number, number, number, number, number, number];

/** Matrix product A·B (apply B first, then A). */
export function composeAffine(A: Affine, B: Affine): Affine {
  return [
    A[0] * B[0] + A[1] * B[3], A[0] * B[1] + A[1] * B[4], A[0] * B[2] + A[1] * B[5] + A[2],
    A[3] * B[0] + A[4] * B[3], A[3] * B[1] + A[4] * B[4], A[3] * B[2] + A[4] * B[5] + A[5],
  ];
}

/** Inverse of an affine matrix. */
export function invertAffine(m: Affine): Affine {
  const det = m[0] * m[4] - m[1] * m[3];
  const a = m[4] / det;
  const b = -m[1] / det;
  const c = -m[3] / det;
  const d = m[0] / det;
  return [a, b, -(a * m[2] + b * m[5]), c, d, -(c * m[2] + d * m[5])];
}

/**
 * The forward (input → output) matrix of a draw, about the image centre: flip, then shear,
 * rotation and zoom, then the shift. Pixel centres sit at integer coordinates.
 */
export function augmentMatrix(draw: AugmentDraw, width: number, height: number): Affine {
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  const toCentre: Affine = [1, 0, -cx, 0, 1, -cy];
  const flip: Affine = [draw.flip ? -1 : 1, 0, 0, 0, 1, 0];
  const shear: Affine = [1, Math.tan((draw.shearDeg * Math.PI) / 180), 0, 0, 1, 0];
  const t = (draw.rotateDeg * Math.PI) / 180;
  const rotZoom: Affine = [draw.zoom * Math.cos(t), -draw.zoom * Math.sin(t), 0, draw.zoom * Math.sin(t), draw.zoom * Math.cos(t), 0];
  const back: Affine = [1, 0, cx + draw.shiftX, 0, 1, cy + draw.shiftY];
  return [flip, shear, rotZoom, back].reduce((acc, m) => composeAffine(m, acc), toCentre);
}

/**
 * Warps an image by a forward affine matrix into an output of the same size: every output pixel
 * is sampled bilinearly at its inverse-mapped position; positions outside the input are black.
 */
export function warpAffine(img: GreyImage, forward: Affine): GreyImage {
  const { width: w, height: h, data: src } = img;
  const inv = invertAffine(forward);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    // walk the row incrementally: x, y in input coordinates
    let sx = inv[1] * y + inv[2];
    let sy = inv[4] * y + inv[5];
    const row = y * w;
    for (let x = 0; x < w; x++, sx += inv[0], sy += inv[3]) {
      if (sx <= -1 || sy <= -1 || sx >= w || sy >= h) continue;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      // neighbours outside the image count as black (the background)
      const inX0 = x0 >= 0;
      const inX1 = x0 + 1 < w;
      const inY0 = y0 >= 0;
      const inY1 = y0 + 1 < h;
      const r0 = y0 * w;
      const r1 = r0 + w;
      const p00 = inX0 && inY0 ? src[r0 + x0] : 0;
      const p10 = inX1 && inY0 ? src[r0 + x0 + 1] : 0;
      const p01 = inX0 && inY1 ? src[r1 + x0] : 0;
      const p11 = inX1 && inY1 ? src[r1 + x0 + 1] : 0;
      const top = p00 + (p10 - p00) * fx;
      const bot = p01 + (p11 - p01) * fx;
      out[row + x] = Math.round(top + (bot - top) * fy);
    }
  }
  return { width: w, height: h, data: out };
}

/**
 * Brightness and contrast in place: v' = (mean + (v - mean) * contrast) * brightness, clamped,
 * where mean is the image's own mean (so contrast keeps the average grey).
 */
export function adjustIntensity(data: Uint8Array, brightness: number, contrast: number): void {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i];
  const mean = data.length > 0 ? sum / data.length : 0;
  // a 256-entry lookup table: the same mapping for every pixel
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.min(255, Math.max(0, Math.round((mean + (v - mean) * contrast) * brightness)));
  for (let i = 0; i < data.length; i++) data[i] = lut[data[i]];
}
