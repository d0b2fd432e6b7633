// From stored values to the displayed 8-bit grey image: Modality LUT (rescale), then VOI
// (VOI LUT Sequence, else Window Center/Width, else the image's own min-max), then
// MONOCHROME1 inversion, applied after quantising so inverted images are exact negatives.
import type { DicomHeader } from './parse.js';
import type { StoredArray } from './pixel-data.js';

/** Modality values: the stored array itself when the rescale is identity, else Float64. */
export type ModalityArray = StoredArray | Float64Array;

/** Applies Rescale Slope/Intercept (PS3.3 C.11.1); identity returns the input unchanged. */
export function applyModalityLut(raw: StoredArray, slope: number, intercept: number): ModalityArray {
  if (slope === 1 && intercept === 0) return raw;
  const out = new Float64Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw[i] * slope + intercept;
  return out;
}

/** Which VOI was applied, for meta. */
export type VoiKind = 'voi-lut' | 'window' | 'min-max';

/**
 * Maps modality values to 0..255 display grey (0 = black), inverting MONOCHROME1.
 * - VOI LUT Sequence (first item) wins: out = LUT[clamp(x - first)] / (2^bits - 1).
 * - Else the first Window Center/Width pair with VOI LUT Function LINEAR (default),
 *   LINEAR_EXACT or SIGMOID (PS3.3 C.11.2.1.2).
 * - Else the image's own [min, max] is stretched to [0, 255] (a flat image maps to 0).
 */
export function toDisplay8(values: ModalityArray, h: DicomHeader): { data: Uint8Array; voi: VoiKind } {
  const n = values.length;
  const out = new Uint8Array(n);
  let voi: VoiKind;
  if (h.voiLut) {
    const { first, data } = h.voiLut;
    const last = data.length - 1;
    const scale = 255 / ((1 << h.voiLut.bits) - 1);
    for (let i = 0; i < n; i++) {
      let k = Math.round(values[i]) - first;
      k = k < 0 ? 0 : k > last ? last : k;
      out[i] = clamp255(data[k] * scale);
    }
    voi = 'voi-lut';
  } else if (h.windowCenter !== undefined && h.windowWidth !== undefined && windowUsable(h)) {
    const c = h.windowCenter;
    const w = h.windowWidth;
    const fn = h.voiLutFunction ?? 'LINEAR';
    if (fn === 'SIGMOID') {
      for (let i = 0; i < n; i++) out[i] = clamp255(255 / (1 + Math.exp((-4 * (values[i] - c)) / w)));
    } else if (fn === 'LINEAR_EXACT') {
      for (let i = 0; i < n; i++) out[i] = clamp255(((values[i] - c) / w + 0.5) * 255);
    } else {
      const lo = c - 0.5 - (w - 1) / 2;
      const hi = c - 0.5 + (w - 1) / 2;
      for (let i = 0; i < n; i++) {
        const x = values[i];
        out[i] = x <= lo ? 0 : x > hi ? 255 : clamp255(((x - (c - 0.5)) / (w - 1) + 0.5) * 255);
      }
    }
    voi = 'window';
  } else {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = values[i];
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    const scale = hi > lo ? 255 / (hi - lo) : 0;
    for (let i = 0; i < n; i++) out[i] = clamp255((values[i] - lo) * scale);
    voi = 'min-max';
  }
  if (h.photometric === 'MONOCHROME1') for (let i = 0; i < n; i++) out[i] = 255 - out[i];
  return { data: out, voi };
}

function windowUsable(h: DicomHeader): boolean {
  const w = h.windowWidth!;
  const fn = h.voiLutFunction ?? 'LINEAR';
  return Number.isFinite(w) && (fn === 'LINEAR' ? w >= 1 : w > 0);
}

function clamp255(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}
