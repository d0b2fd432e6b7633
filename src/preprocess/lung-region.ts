/**
 * The geometric lung region, defined once here (the shortcut check of src/explain and the
 * lung-field-only preprocessing option both use it). It is NOT a segmentation: two fixed ellipses
 * placed where the lung fields of a centred PA/AP chest X-ray usually fall in the model's 224 x 224
 * centre crop (coordinates are fractions of the crop, so other crop sizes scale). Images that are
 * rotated, lateral, or framed unusually will not match it. Imports nothing from Node: the browser
 * bundle carries it (portable.ts).
 */

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

/** Whether the crop point (u, v) (pixel-centre coordinates: pixel x has centre x) lies in one of the ellipses. */
export function inRegion(u: number, v: number, crop: [number, number], region: Pick<LungRegion, 'ellipses'> = LUNG_REGION): boolean {
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
export function regionMask(crop: [number, number], region: Pick<LungRegion, 'ellipses'> = LUNG_REGION): Uint8Array {
  const [h, w] = crop;
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = inRegion(x, y, crop, region) ? 1 : 0;
  return out;
}

/** The lung-field-only option of a preprocessing contract: the ellipses kept (data, so a run carries its own). */
export interface LungField {
  /** Name of the region (LUNG_REGION's), for people and cache keys. */
  region: string;
  ellipses: Ellipse[];
}

/** The option's contract for the standard region. */
export function lungFieldOf(region: LungRegion = LUNG_REGION): LungField {
  return { region: region.name, ellipses: region.ellipses.map((e) => ({ ...e })) };
}

const maskCache = new Map<string, Uint8Array>();

/**
 * Keeps only the lung fields of a crop (w x h grey pixels): everything outside the ellipses
 * becomes the mean grey of the pixels inside them, so that borders, markers, burnt-in text and
 * collimation cannot reach the backbone, and not even their brightness does (the fill comes from
 * the lungs alone). Returns a new array; the input is not changed.
 */
export function keepLungField(pixels: Uint8Array, width: number, height: number, field: LungField): Uint8Array {
  const key = `${width}x${height}:${JSON.stringify(field.ellipses)}`;
  let mask = maskCache.get(key);
  if (!mask) {
    mask = regionMask([height, width], field);
    maskCache.set(key, mask);
  }
  let sum = 0;
  let n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) {
      sum += pixels[i];
      n++;
    }
  }
  const fill = n > 0 ? Math.round(sum / n) : 0;
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < out.length; i++) out[i] = mask[i] ? pixels[i] : fill;
  return out;
}
