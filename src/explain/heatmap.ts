/**
 * Heatmaps: a float per pixel, row-major, plus the resampling and display scaling every
 * explanation method shares.
 */
import type { PreprocessConfig } from '../preprocess/config.js';
import { cropPlan } from '../preprocess/to-tensor.js';

/** A single-channel float map, row-major. */
export interface Heatmap {
  width: number;
  height: number;
  data: Float32Array;
}

/**
 * Bilinear resampling with half-pixel centres (PyTorch `F.interpolate(mode='bilinear',
 * align_corners=False)`, OpenCV `resize`): edges are clamped, so a constant map stays constant.
 */
export function resizeBilinear(src: Heatmap, width: number, height: number): Heatmap {
  const { width: sw, height: sh, data } = src;
  const out = new Float32Array(width * height);
  const sx = sw / width;
  const sy = sh / height;
  // per-column source indices and weights, computed once
  const x0s = new Int32Array(width);
  const x1s = new Int32Array(width);
  const wxs = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
    x0s[x] = Math.floor(fx);
    x1s[x] = Math.min(x0s[x] + 1, sw - 1);
    wxs[x] = fx - x0s[x];
  }
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = fy - y0;
    const r0 = y0 * sw;
    const r1 = y1 * sw;
    for (let x = 0; x < width; x++) {
      const wx = wxs[x];
      const a = data[r0 + x0s[x]] * (1 - wx) + data[r0 + x1s[x]] * wx;
      const b = data[r1 + x0s[x]] * (1 - wx) + data[r1 + x1s[x]] * wx;
      out[y * width + x] = a * (1 - wy) + b * wy;
    }
  }
  return { width, height, data: out };
}

/** How a heatmap is scaled to [0, 1] for display. */
export type DisplayScale =
  /** Negative values (evidence against COVID) clip to 0; the map's own largest value maps to 1. */
  | 'positive'
  /** Minimum maps to 0, maximum to 1. */
  | 'minmax'
  /**
   * 0 maps to 0 and a fixed value (FIXED_SCALE_MAX of the method, or one given) to 1, the same
   * for every image: a faint map stays faint instead of being stretched to full colour.
   */
  | 'fixed';

/** Heatmap methods whose values have a known unit. */
export type HeatmapMethod = 'cam' | 'occlusion';

/** The unit of each method's map values, for colour bars and captions. */
export const HEATMAP_UNIT: Readonly<Record<HeatmapMethod, string>> = Object.freeze({
  cam: 'logit',
  occlusion: 'drop in P(COVID)',
});

/**
 * The 'fixed' scale, from the dev-set maps: a confident prediction's strongest regions reach full
 * colour, an unremarkable image's stay dim. Occlusion: a drop in P(COVID) of 0.2 when the region is
 * hidden. CAM: the image's logit difference is the mean of the map over the backbone's feature-map
 * cells, so a cell adds map/cells to it; full colour is a cell adding 0.2 logit (a map value of
 * 0.2 × 169 = 34 on SqueezeNet's 13 × 13 map, 0.2 × 49 = 9.8 on a 7 × 7 map), which keeps the scale
 * comparable across backbones whose maps have different numbers of cells.
 */
export const FIXED_SCALE = Object.freeze({ occlusion: 0.2, camPerCell: 0.2 });

/** The map value shown at full colour under the 'fixed' scale; CAM needs the feature map's cell count. */
export function fixedScaleMax(method: HeatmapMethod, camCells: number): number {
  return method === 'cam' ? Number((FIXED_SCALE.camPerCell * camCells).toPrecision(6)) : FIXED_SCALE.occlusion;
}

/** The fixed scale in words, for help texts. */
export const FIXED_SCALE_TEXT = `occlusion ${FIXED_SCALE.occlusion} ${HEATMAP_UNIT.occlusion}; cam ${FIXED_SCALE.camPerCell} logit per feature-map cell (the map's value × cells)`;

/** The value range [lo, hi] a map is shown over; hi <= lo means nothing to show. */
export function displayRange(map: Heatmap, mode: DisplayScale = 'positive', fixedMax = 1): { lo: number; hi: number } {
  if (mode === 'fixed') return { lo: 0, hi: fixedMax };
  const d = map.data;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return mode === 'positive' ? { lo: 0, hi } : { lo, hi };
}

/**
 * Scales a heatmap to [0, 1] for colouring, over displayRange (values outside clip). A map with
 * nothing to show (all values <= 0 under 'positive', or constant under 'minmax') becomes all
 * zeros rather than noise.
 */
export function displayScale(map: Heatmap, mode: DisplayScale = 'positive', fixedMax = 1): Float32Array {
  const d = map.data;
  const { lo, hi } = displayRange(map, mode, fixedMax);
  const out = new Float32Array(d.length);
  const span = hi - lo;
  if (!(span > 0)) return out;
  for (let i = 0; i < d.length; i++) {
    const v = (d[i] - lo) / span;
    out[i] = v > 0 ? (v < 1 ? v : 1) : 0;
  }
  return out;
}

/**
 * Where the model's crop lies in an original image: crop coordinate u = x * scaleX + offsetX
 * (pixel centres, continuous), likewise for y. Mirrors resizeAndCrop (torchvision Resize +
 * CenterCrop, zero padding when the image is smaller than the crop).
 */
export interface CropGeometry {
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
  crop: [number, number];
}

/** The crop geometry of an image of width x height under a preprocessing config. */
export function cropGeometry(width: number, height: number, cfg: PreprocessConfig): CropGeometry {
  const [ch, cw] = cfg.crop;
  const { nw, nh, padX, padY, top, left } = cropPlan(width, height, cfg);
  const scaleX = nw / width;
  const scaleY = nh / height;
  // centre of original pixel x lands at (x + 0.5) * scale - 0.5 in the resized image
  return {
    scaleX,
    scaleY,
    offsetX: 0.5 * scaleX - 0.5 + Math.floor(padX / 2) - left,
    offsetY: 0.5 * scaleY - 0.5 + Math.floor(padY / 2) - top,
    crop: [ch, cw],
  };
}

/**
 * Where the crop lies in the original image, as fractions of its width and height (pixel edges,
 * so left = 0 and width = 1 when the crop spans the whole width). Parts may lie outside [0, 1]
 * when the image was padded. Lets a viewer place a crop-sized heatmap over the full image.
 */
export function cropBox(width: number, height: number, geo: CropGeometry): { left: number; top: number; width: number; height: number } {
  const [ch, cw] = geo.crop;
  // crop edge U = (X − 0.5) · scale + offset + 0.5 for original edge X: solve U = 0
  const x0 = 0.5 - (geo.offsetX + 0.5) / geo.scaleX;
  const y0 = 0.5 - (geo.offsetY + 0.5) / geo.scaleY;
  return { left: x0 / width, top: y0 / height, width: cw / geo.scaleX / width, height: ch / geo.scaleY / height };
}

/**
 * Maps a crop-sized heatmap back onto the original image geometry (bilinear). Pixels outside the
 * crop (cut off by the centre crop) get `outside` (default NaN: the model never saw them).
 */
export function heatmapToOriginal(map: Heatmap, width: number, height: number, geo: CropGeometry, outside = NaN): Heatmap {
  const out = new Float32Array(width * height);
  const { width: mw, height: mh, data } = map;
  for (let y = 0; y < height; y++) {
    const v = y * geo.scaleY + geo.offsetY;
    const inY = v >= -0.5 && v <= mh - 0.5;
    const fy = Math.min(Math.max(v, 0), mh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, mh - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const u = x * geo.scaleX + geo.offsetX;
      if (!inY || u < -0.5 || u > mw - 0.5) {
        out[y * width + x] = outside;
        continue;
      }
      const fx = Math.min(Math.max(u, 0), mw - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, mw - 1);
      const wx = fx - x0;
      const a = data[y0 * mw + x0] * (1 - wx) + data[y0 * mw + x1] * wx;
      const b = data[y1 * mw + x0] * (1 - wx) + data[y1 * mw + x1] * wx;
      out[y * width + x] = a * (1 - wy) + b * wy;
    }
  }
  return { width, height, data: out };
}

/** Index of the largest value and its (x, y). */
export function argmax(map: Heatmap): { index: number; x: number; y: number; value: number } {
  let best = 0;
  for (let i = 1; i < map.data.length; i++) if (map.data[i] > map.data[best]) best = i;
  return { index: best, x: best % map.width, y: Math.floor(best / map.width), value: map.data[best] };
}
