/**
 * Masking full-size images with the geometric lung region (defined once, in
 * preprocess/lung-region.ts) for the shortcut check: the region hidden, or only it kept.
 */
import type { GreyImage } from '../input/grey-image.js';
import type { PreprocessConfig } from '../preprocess/config.js';
import { inRegion, LUNG_REGION, type LungRegion } from '../preprocess/lung-region.js';
import { cropGeometry } from './heatmap.js';

export { inRegion, LUNG_REGION, regionMask, type Ellipse, type LungRegion } from '../preprocess/lung-region.js';

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
