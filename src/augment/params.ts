import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';
import { Rng } from '../util/rng.js';

/**
 * Ranges of the random augmentation (Augmentor-like). Every operation draws uniformly from
 * its symmetric range; a range of 0 switches the operation off.
 */
export interface AugmentParams {
  /** Largest rotation in degrees either way (default 10). */
  rotateDeg: number;
  /** Zoom factor range (default 0.9–1.1); > 1 magnifies. */
  zoomMin: number;
  zoomMax: number;
  /** Largest horizontal shear angle in degrees either way (default 5: X-rays tolerate little shear). */
  shearDeg: number;
  /** Largest horizontal shift as a fraction of the width either way (default 0.1). */
  shiftX: number;
  /** Largest vertical shift as a fraction of the height either way (default 0: the paper shifts sideways only). */
  shiftY: number;
  /** Largest brightness change as a fraction either way: intensities scale by 1 ± this (default 0.1). */
  brightness: number;
  /** Largest contrast change as a fraction either way: deviation from the mean scales by 1 ± this (default 0.1). */
  contrast: number;
  /**
   * Probability of a left-right flip (default 0: a flip moves the heart to the right, which no real
   * chest film shows; Augmentor's pipelines often flip, set 0.5 to mimic them).
   */
  flipProbability: number;
}

/** Defaults: rotation ±10°, zoom 0.9–1.1, shear ±5°, horizontal shift ±10%, brightness and contrast ±10%, no flip. */
export const DEFAULT_AUGMENT_PARAMS: Readonly<AugmentParams> = Object.freeze({
  rotateDeg: 10,
  zoomMin: 0.9,
  zoomMax: 1.1,
  shearDeg: 5,
  shiftX: 0.1,
  shiftY: 0,
  brightness: 0.1,
  contrast: 0.1,
  flipProbability: 0,
});

/** The parameters drawn for one variant of one image. */
export interface AugmentDraw {
  rotateDeg: number;
  zoom: number;
  shearDeg: number;
  /** Shifts in pixels. */
  shiftX: number;
  shiftY: number;
  /** Multiplicative factors. */
  brightness: number;
  contrast: number;
  flip: boolean;
}

/** Checks ranges and fills defaults; throws UsageError naming the bad setting. */
export function resolveAugmentParams(p: Partial<AugmentParams> = {}): AugmentParams {
  const r: AugmentParams = { ...DEFAULT_AUGMENT_PARAMS, ...p };
  const bad = (name: string, why: string) => new UsageError(`augmentation setting ${name}=${String(r[name as keyof AugmentParams])} ${why}`);
  for (const [k, v] of Object.entries(r)) if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(k, 'must be a finite number');
  if (r.rotateDeg < 0 || r.rotateDeg > 45) throw bad('rotateDeg', 'must be in 0..45');
  if (r.shearDeg < 0 || r.shearDeg > 30) throw bad('shearDeg', 'must be in 0..30');
  if (!(r.zoomMin > 0) || r.zoomMax < r.zoomMin || r.zoomMax > 4) throw bad('zoomMin', `and zoomMax=${r.zoomMax} must satisfy 0 < zoomMin <= zoomMax <= 4`);
  for (const k of ['shiftX', 'shiftY', 'brightness', 'contrast'] as const) if (r[k] < 0 || r[k] >= 1) throw bad(k, 'must be in [0, 1)');
  if (r.flipProbability < 0 || r.flipProbability > 1) throw bad('flipProbability', 'must be in 0..1');
  return r;
}

/**
 * A 32-bit seed from (seed, image hash, variant): a variant's parameters depend only on these,
 * never on the order in which images are processed.
 */
export function variantSeed(seed: number, imageSha256: string, variant: number): number {
  return createHash('sha256').update(`deep-covid-augment\0${seed}\0${imageSha256}\0${variant}`).digest().readUInt32LE(0);
}

/** Draws the parameters of variant `variant` of the image with content hash `imageSha256`. */
export function drawAugment(p: AugmentParams, seed: number, imageSha256: string, variant: number, width: number, height: number): AugmentDraw {
  const rng = new Rng(variantSeed(seed, imageSha256, variant));
  // fixed draw order, one draw per operation even when switched off, so changing one range leaves the others' draws alone
  const sym = (m: number) => rng.uniform(-m, m);
  return {
    rotateDeg: sym(p.rotateDeg),
    zoom: rng.uniform(p.zoomMin, p.zoomMax),
    shearDeg: sym(p.shearDeg),
    shiftX: sym(p.shiftX) * width,
    shiftY: sym(p.shiftY) * height,
    brightness: 1 + sym(p.brightness),
    contrast: 1 + sym(p.contrast),
    flip: rng.next() < p.flipProbability,
  };
}
