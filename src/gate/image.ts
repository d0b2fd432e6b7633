/**
 * Layer 2 of the gate: what the pixels say, for every format. Size, shape, contrast and colour are
 * measured on the image as stored (before src/input reduces it to one grey channel, which would
 * hide a photograph's colour), at most 512 px a side: enough for these statistics and cheap.
 * This module runs anywhere (Node and the client page's bundle): it imports nothing from Node;
 * decoding a file for it is measure-file.ts's job in Node and the page's in the browser.
 */
import type { GreyImage } from '../input/grey-image.js';
import { GATE_DEFAULTS, type GateSettings } from './settings.js';
import { mirrorSymmetry, planeSymmetry, SYMMETRY_GRID, symmetryGrid } from './symmetry.js';
import type { GateReason, ImageCheck, ImageFacts } from './types.js';

/** Longest side the statistics are measured at. */
export const MEASURE_SIDE = 512;
/** Chroma (0–255) above which a pixel counts as strongly coloured. */
const STRONG_CHROMA = 25;

/** Facts of an already decoded grey image (DICOM, or any image a caller holds). */
export function measureGrey(img: GreyImage): ImageFacts {
  const { width, height, data } = img;
  const n = width * height;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const v = data[i];
    s += v;
    s2 += v * v;
  }
  return { ...shape(width, height), greyStd: stdOf(s, s2, n), storedChannels: 1, colourFraction: 0, meanChroma: 0, symmetry: planeSymmetry(data, width, height) };
}

export function shape(width: number, height: number): Pick<ImageFacts, 'width' | 'height' | 'aspect'> {
  const short = Math.min(width, height);
  return { width, height, aspect: short > 0 ? Math.max(width, height) / short : Infinity };
}

function stdOf(s: number, s2: number, n: number): number {
  if (n === 0) return 0;
  const mean = s / n;
  return Math.sqrt(Math.max(0, s2 / n - mean * mean));
}

/**
 * Grey level, colour and mirror-symmetry statistics of interleaved pixels (1 grey or 3 colour
 * channels, no alpha), row by row, each sample mapped to 0–255 by `scale` after subtracting `lo`.
 */
export function pixelStats(data: Uint8Array | Uint16Array, width: number, height: number, channels: number, lo = 0, scale = 1): Pick<ImageFacts, 'greyStd' | 'colourFraction' | 'meanChroma' | 'symmetry'> {
  const n = width * height;
  let s = 0;
  let s2 = 0;
  let chroma = 0;
  let strong = 0;
  const colour = channels >= 3;
  const grid = symmetryGrid(width, height);
  for (let yy = 0, i = 0; yy < height; yy++) {
    const rowBase = grid.rowCell[yy] * SYMMETRY_GRID;
    for (let xx = 0; xx < width; xx++, i++) {
      const o = i * channels;
      let y: number;
      if (colour) {
        const r = (data[o] - lo) * scale;
        const g = (data[o + 1] - lo) * scale;
        const b = (data[o + 2] - lo) * scale;
        // Rec. 709 luma, as libvips' sRGB → b-w conversion does to the gamma-encoded values
        y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        const c = Math.max(r, g, b) - Math.min(r, g, b);
        chroma += c;
        if (c > STRONG_CHROMA) strong++;
      } else {
        y = (data[o] - lo) * scale;
      }
      s += y;
      s2 += y * y;
      const cell = rowBase + grid.colCell[xx];
      grid.sums[cell] += y;
      grid.counts[cell]++;
    }
  }
  return { greyStd: stdOf(s, s2, n), colourFraction: n ? strong / n : 0, meanChroma: n ? chroma / n : 0, symmetry: mirrorSymmetry(grid) };
}

/** Checks the image facts against the settings' limits (see `GateSettings` for each reason). */
export function assessImage(facts: ImageFacts, settings: Partial<GateSettings> = {}): ImageCheck {
  const s = { ...GATE_DEFAULTS, ...settings };
  const reasons: GateReason[] = [];
  const short = Math.min(facts.width, facts.height);
  const size = `${facts.width} x ${facts.height} pixels`;
  if (short < s.minShortSide) {
    reasons.push({ code: 'too-small', level: 'refuse', message: `The image is only ${size}; at least ${s.minShortSide} pixels on the shorter side are needed to see anything in the lungs.` });
  } else if (short < s.warnShortSide) {
    reasons.push({ code: 'low-resolution', level: 'warn', message: `The image is only ${size}, smaller than the ${s.warnShortSide}-pixel input the model sees; it is enlarged and fine detail is missing.` });
  }
  const ratio = facts.aspect.toFixed(2);
  if (facts.aspect > s.maxAspect) {
    reasons.push({ code: 'extreme-aspect', level: 'refuse', message: `The image is ${ratio} times longer than it is wide; no chest film has that shape, and the model would see only its centre.` });
  } else if (facts.aspect > s.warnAspect) {
    reasons.push({ code: 'unusual-aspect', level: 'warn', message: `The image is ${ratio} times longer than it is wide (chest films are at most about 1.25); the model sees only the square in its centre.` });
  }
  const std = facts.greyStd.toFixed(1);
  if (facts.greyStd < s.minGreyStd) {
    reasons.push({ code: 'blank', level: 'refuse', message: `The image is nearly uniform grey (standard deviation ${std} grey levels): there is nothing to read.` });
  } else if (facts.greyStd < s.warnGreyStd) {
    reasons.push({ code: 'low-contrast', level: 'warn', message: `The image has very little contrast (standard deviation ${std} grey levels).` });
  }
  const pct = (facts.colourFraction * 100).toFixed(facts.colourFraction < 0.1 ? 1 : 0);
  if (facts.colourFraction > s.refuseColourFraction) {
    reasons.push({ code: 'colour-picture', level: 'refuse', message: `This is a colour picture (${pct}% of it strongly coloured), such as a photograph, not a radiograph.` });
  } else if (facts.colourFraction > s.warnColourFraction || facts.meanChroma > s.warnMeanChroma) {
    reasons.push({ code: 'colour-tint', level: 'warn', message: `The image has coloured parts or a colour cast (${pct}% strongly coloured), as annotations or a photographed film do; the model reads its grey version.` });
  }
  return { facts, reasons };
}
