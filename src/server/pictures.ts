/**
 * The pictures of a prediction the page shows: each heatmap as transparent colour layers (scaled
 * to its own maximum, and on the fixed scale shared by every image) plus a pre-blended overlay,
 * and a preview of the full image with where the model's crop lies in it.
 */
import sharp from 'sharp';
import type { GreyImage } from '../input/grey-image.js';
import type { PreprocessConfig } from '../preprocess/config.js';
import { colourise, cropBox, cropGeometry, encodePng, EXPLAINER_DEFAULTS, fixedScaleMax, HEATMAP_UNIT, heatPictures, MAP_MEANING, VIRIDIS, type Heatmap, type HeatmapMethod } from '../explain/index.js';
import type { ApiFullImage, ApiHeatmap } from './api-types.js';

/** Opacity of the pre-blended overlay PNG where the map is strongest (the page lets the user choose its own). */
export const OVERLAY_ALPHA = EXPLAINER_DEFAULTS.overlayAlpha;

/** Longest side of the full-image preview (the page shows it at most this large). */
export const FULL_PREVIEW_SIDE = 768;

const COLOUR_MAP = 'viridis, faded by strength: transparent = nothing, violet = low, yellow = high';

/**
 * The RGBA layer of a display-scaled map: viridis colour, alpha = the scaled value, so regions with
 * nothing to show stay transparent and the X-ray under them keeps its contrast.
 */
async function encodeLayer(scaled: Float32Array, width: number, height: number): Promise<Buffer> {
  const rgb = colourise(scaled, width, height, VIRIDIS).data;
  const n = width * height;
  const rgba = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) {
    rgba[4 * i] = rgb[3 * i];
    rgba[4 * i + 1] = rgb[3 * i + 1];
    rgba[4 * i + 2] = rgb[3 * i + 2];
    rgba[4 * i + 3] = Math.round(255 * scaled[i]);
  }
  return sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

/**
 * A crop-sized map as the API's pictures. `camCells` is the number of feature-map cells (for the
 * CAM's fixed scale).
 */
export async function heatmapPictures(method: HeatmapMethod, map: Heatmap, grey: Uint8Array, camCells: number): Promise<ApiHeatmap> {
  const own = heatPictures(map, grey, { scale: 'positive', alpha: OVERLAY_ALPHA });
  const fixedMax = fixedScaleMax(method, camCells);
  const fixed = heatPictures(map, grey, { scale: 'fixed', fixedMax, alpha: OVERLAY_ALPHA });
  const [layer, fixedLayer, overlay] = await Promise.all([
    encodeLayer(own.scaled, map.width, map.height),
    encodeLayer(fixed.scaled, map.width, map.height),
    encodePng(own.overlay),
  ]);
  return {
    method,
    meaning: MAP_MEANING[method].plain,
    colourMap: COLOUR_MAP,
    unit: HEATMAP_UNIT[method],
    max: Math.max(0, own.range.hi),
    heatmapPng: layer.toString('base64'),
    fixed: { max: fixedMax, heatmapPng: fixedLayer.toString('base64') },
    overlayPng: overlay.toString('base64'),
    overlayAlpha: OVERLAY_ALPHA,
  };
}

/** The full grey image, shrunk to FULL_PREVIEW_SIDE at most, as JPEG, with the crop's place in it. */
export async function fullImagePreview(img: GreyImage, cfg: PreprocessConfig): Promise<ApiFullImage> {
  const s = Math.min(1, FULL_PREVIEW_SIDE / Math.max(img.width, img.height));
  const width = Math.max(1, Math.round(img.width * s));
  const height = Math.max(1, Math.round(img.height * s));
  const jpeg = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } })
    .resize(width, height, { kernel: 'lanczos3' })
    .toColourspace('b-w')
    .jpeg({ quality: 85 })
    .toBuffer();
  return { width, height, jpeg: jpeg.toString('base64'), cropBox: cropBox(img.width, img.height, cropGeometry(img.width, img.height, cfg)) };
}
