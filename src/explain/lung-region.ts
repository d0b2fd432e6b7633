/**
 * The geometric lung region of the shortcut check, defined once here. It is NOT a segmentation:
 * two fixed ellipses placed where the lung fields of a centred PA/AP chest X-ray usually fall in
 * the model's 224 x 224 centre crop (coordinates are fractions of the crop, so other crop sizes
 * scale). Images that are rotated, lateral, or framed unusually will not match it.
 */
import type { GreyImage } from '../input/grey-image.js';
import type { PreprocessConfig } from '../preprocess/config.js';
import { cropGeometry } from './heatmap.js';

/** An axis-aligned ellipse in crop fractions: centre (cx, cy), semi-axes (rx, ry). */
export interface Ellipse {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
}

/** A named geometric region (its name is part of feature-cache keys). */
export interface LungRegion {
  name: string;
  ellipses: readonly Ellipse[];
  description: string;
}

/**
 * Right and left lung fields (image left = patient right): each ellipse spans 10–48 % / 52–90 %
 * of the crop width and 15–85 % of its height (checked by eye on dev-set images), leaving the mediastinum strip in the middle, the
 * shoulders, the corners (where text labels and markers usually sit) and the abdomen outside.
 */
export const LUNG_REGION: LungRegion = Object.freeze({
  name: 'two-ellipses-v2',
  ellipses: Object.freeze([
    Object.freeze({ cx: 0.29, cy: 0.5, rx: 0.19, ry: 0.35 }),
    Object.freeze({ cx: 0.71, cy: 0.5, rx: 0.19, ry: 0.35 }),
  ]),
  description:
    'geometric lung region (not a segmentation): two ellipses centred at (29 %, 50 %) and (71 %, 50 %) of the crop, ' +
    'semi-axes 19 % of its width and 35 % of its height',
});

/** Whether the crop point (u, v) (pixel-centre coordinates: pixel x has centre x) lies in the region. */
export function inRegion(u: number, v: number, crop: [number, number], region: LungRegion = LUNG_REGION): boolean {
  const [h, w] = crop;
  const fx = (u + 0.5) / w;
  const fy = (v + 0.5) / h;
  for (const e of region.ellipses) {
    const dx = (fx - e.cx) / e.rx;
    const dy = (fy - e.cy) / e.ry;
    if (dx * dx + dy * dy <= 1) return true;
  }
  return false;
}

/** The region as a crop-sized mask (1 = inside), row-major. */
export function regionMask(crop: [number, number], region: LungRegion = LUNG_REGION): Uint8Array {
  const [h, w] = crop;
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = inRegion(x, y, crop, region) ? 1 : 0;
  return out;
}

/** Which part of the image the shortcut check keeps. */
export type MaskMode = 'hide-lungs' | 'lungs-only';

/**
 * Masks a full-size image so that, after the model's resize and centre crop, the lung region is
 * filled ('hide-lungs') or everything but it is ('lungs-only'). The fill is the image's own mean
 * grey (neutral brightness, no new edges of extreme contrast) unless a grey level is given.
 */
export function maskImage(img: GreyImage, mode: MaskMode, cfg: PreprocessConfig, fill?: number, region: LungRegion = LUNG_REGION): GreyImage {
  const { width, height, data } = img;
  let value = fill;
  if (value === undefined) {
    let s = 0;
    for (let i = 0; i < data.length; i++) s += data[i];
    value = Math.round(s / Math.max(1, data.length));
  }
  const geo = cropGeometry(width, height, cfg);
  const out = new Uint8Array(data);
  const hide = mode === 'hide-lungs';
  for (let y = 0; y < height; y++) {
    const v = y * geo.scaleY + geo.offsetY;
    for (let x = 0; x < width; x++) {
      const inside = inRegion(x * geo.scaleX + geo.offsetX, v, geo.crop, region);
      if (inside === hide) out[y * width + x] = value;
    }
  }
  return { width, height, data: out };
}
