// From stored values to the displayed 8-bit grey image: Modality LUT (the Modality LUT Sequence,
// else Rescale Slope/Intercept), then VOI (VOI LUT Sequence, else Window Center/Width, else the
// image's own min-max), then MONOCHROME1 inversion, applied after quantising so inverted images
// are exact negatives.
//
// Stored samples are at most 16-bit words, so the whole chain is evaluated once per possible word
// into a table (at most 65,536 entries) and the image is mapped through it in one pass: no
// full-size Float64 copy and no stored-value copy of a 100-megapixel image, and the same numbers,
// bit for bit, as evaluating the chain per pixel.
import type { DicomHeader, Lut } from './parse.js';
import type { StoredArray } from './pixel-data.js';

/** Modality values: the stored array itself when the transform is identity, else Float64. */
export type ModalityArray = StoredArray | Float64Array;

/** The header fields the Modality LUT uses. */
export type ModalityFields = Pick<DicomHeader, 'rescaleSlope' | 'rescaleIntercept' | 'modalityLut'>;

function lookup(lut: Lut, x: number): number {
  const k = x - lut.first;
  return lut.data[k < 0 ? 0 : k >= lut.data.length ? lut.data.length - 1 : k];
}

/**
 * The Modality LUT as a function of one stored value (PS3.3 C.11.1): the Modality LUT Sequence
 * when present (values below its first input map to its first entry, above its range to its last),
 * else Rescale Slope/Intercept. Null when it is the identity.
 */
export function modalityTransform(h: ModalityFields): ((s: number) => number) | null {
  const lut = h.modalityLut;
  if (lut) return (s) => lookup(lut, s);
  if (h.rescaleSlope === 1 && h.rescaleIntercept === 0) return null;
  const { rescaleSlope: slope, rescaleIntercept: intercept } = h;
  return (s) => s * slope + intercept;
}

/** Applies the Modality LUT to every stored value; identity returns the input unchanged. */
export function applyModalityLut(raw: StoredArray, h: ModalityFields): ModalityArray {
  const f = modalityTransform(h);
  if (!f) return raw;
  const out = new Float64Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = f(raw[i]);
  return out;
}

/** Which VOI was applied, for meta. */
export type VoiKind = 'voi-lut' | 'window' | 'min-max';

/**
 * The VOI as a function of one modality value, to 0..255 display grey before inversion.
 * - VOI LUT Sequence (first item) wins: out = LUT[clamp(round(x) - first)] / (2^bits - 1).
 * - Else the first Window Center/Width pair with VOI LUT Function LINEAR (default),
 *   LINEAR_EXACT or SIGMOID (PS3.3 C.11.2.1.2).
 * - Else [lo, hi] (the image's own range) is stretched to [0, 255]; a flat image maps to 0.
 */
function voiTransform(h: DicomHeader, range: () => [number, number]): { f: (x: number) => number; voi: VoiKind } {
  if (h.voiLut) {
    const lut = h.voiLut;
    const scale = 255 / ((1 << lut.bits) - 1);
    return { f: (x) => clamp255(lookup(lut, Math.round(x)) * scale), voi: 'voi-lut' };
  }
  if (h.windowCenter !== undefined && h.windowWidth !== undefined && windowUsable(h)) {
    const c = h.windowCenter;
    const w = h.windowWidth;
    const fn = h.voiLutFunction ?? 'LINEAR';
    if (fn === 'SIGMOID') return { f: (x) => clamp255(255 / (1 + Math.exp((-4 * (x - c)) / w))), voi: 'window' };
    if (fn === 'LINEAR_EXACT') return { f: (x) => clamp255(((x - c) / w + 0.5) * 255), voi: 'window' };
    const lo = c - 0.5 - (w - 1) / 2;
    const hi = c - 0.5 + (w - 1) / 2;
    return { f: (x) => (x <= lo ? 0 : x > hi ? 255 : clamp255(((x - (c - 0.5)) / (w - 1) + 0.5) * 255)), voi: 'window' };
  }
  const [lo, hi] = range();
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  return { f: (x) => clamp255((x - lo) * scale), voi: 'min-max' };
}

/** Where the samples are: `n` words of `bytesPerSample` (1 or 2) bytes, little- or big-endian. */
export interface SampleWords {
  readonly bytes: Uint8Array;
  readonly n: number;
  readonly bytesPerSample: number;
  readonly bigEndian: boolean;
}

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The samples as an indexable array of words: a view of the bytes when the layout allows, else one copy. */
function wordsOf(s: SampleWords): Uint8Array | Uint16Array {
  if (s.bytesPerSample === 1) return s.bytes.subarray(0, s.n);
  if (!s.bigEndian && HOST_LE && s.bytes.byteOffset % 2 === 0) return new Uint16Array(s.bytes.buffer, s.bytes.byteOffset, s.n);
  const out = new Uint16Array(s.n);
  const hi = s.bigEndian ? 0 : 1;
  const lo = 1 - hi;
  for (let i = 0; i < s.n; i++) out[i] = (s.bytes[2 * i + hi] << 8) | s.bytes[2 * i + lo];
  return out;
}

/**
 * Stored words straight to the 8-bit display image, through one table: each possible word is
 * masked to BitsStored, sign-extended, sent through the Modality LUT and the VOI, quantised and
 * (MONOCHROME1) inverted once. Two passes over the pixels at most (the second only for min-max),
 * and no array larger than the output is allocated.
 */
export function wordsToDisplay8(s: SampleWords, h: DicomHeader): { data: Uint8Array; voi: VoiKind } {
  const words = wordsOf(s);
  const size = s.bytesPerSample === 1 ? 256 : 65536;
  const mask = h.bitsStored >= 16 ? 0xffff : (1 << h.bitsStored) - 1;
  const sign = 1 << (h.bitsStored - 1);
  const full = 1 << h.bitsStored;
  const signed = h.pixelRepresentation === 1;
  const stored = (w: number): number => {
    const v = w & mask;
    return signed && v & sign ? v - full : v;
  };
  const modality = modalityTransform(h) ?? ((x: number) => x);
  const { f, voi } = voiTransform(h, () => {
    const seen = new Uint8Array(size);
    for (let i = 0; i < words.length; i++) seen[words[i]] = 1;
    let lo = Infinity;
    let hi = -Infinity;
    for (let w = 0; w < size; w++) {
      if (!seen[w]) continue;
      const x = modality(stored(w));
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    return [lo, hi];
  });
  const table = new Uint8Array(size);
  const invert = h.photometric === 'MONOCHROME1';
  for (let w = 0; w < size; w++) {
    const g = f(modality(stored(w)));
    table[w] = invert ? 255 - g : g;
  }
  const out = new Uint8Array(words.length);
  for (let i = 0; i < words.length; i++) out[i] = table[words[i]];
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
