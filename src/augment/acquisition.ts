/**
 * Acquisition augmentation: random changes of the things that differ between X-ray machines,
 * hospitals and the way a collection was exported (gamma, sharpness, resolution, noise, JPEG
 * recompression), so that a head trained on the augmented features cannot lean on them. Applied
 * after the paper's geometric augmentation. Sizes are relative to the 224-pixel crop the
 * backbone sees, so an operation does the same to a 3000-pixel film and a 300-pixel thumbnail.
 */
import sharp from 'sharp';
import { UsageError } from '../errors.js';
import type { Augmenter } from '../features/extract.js';
import type { GreyImage } from '../input/grey-image.js';
import { Rng } from '../util/rng.js';
import { augmentImage, augmentKey } from './augmenter.js';
import { resolveAugmentParams, variantSeed, type AugmentParams } from './params.js';

/** Ranges of the acquisition operations; each is applied with probability `probability`. */
export interface AcquisitionParams {
  /** Chance of each operation (default 0.5). */
  probability: number;
  /** Gamma drawn log-uniformly in [1/gamma, gamma] (default 1.5). */
  gamma: number;
  /** Largest Gaussian blur sigma, in crop pixels (default 1.2). */
  blurSigma: number;
  /** Smallest resolution, as a fraction of the crop's (default 0.4): the image is resized down and back up. */
  minScale: number;
  /** Largest Gaussian noise sigma, in grey levels at crop scale (default 8). */
  noiseSigma: number;
  /** JPEG quality range (default 30..90). */
  jpegQualityMin: number;
  jpegQualityMax: number;
}

/** The defaults. */
export const DEFAULT_ACQUISITION_PARAMS: Readonly<AcquisitionParams> = Object.freeze({
  probability: 0.5,
  gamma: 1.5,
  blurSigma: 1.2,
  minScale: 0.4,
  noiseSigma: 8,
  jpegQualityMin: 30,
  jpegQualityMax: 90,
});

/** Version of the acquisition code: bump when the output for the same parameters changes. */
const ACQUISITION_VERSION = 1;

/** Checks ranges and fills defaults; throws UsageError naming the bad setting. */
export function resolveAcquisitionParams(p: Partial<AcquisitionParams> = {}): AcquisitionParams {
  const r: AcquisitionParams = { ...DEFAULT_ACQUISITION_PARAMS, ...p };
  const bad = (name: keyof AcquisitionParams, why: string) => new UsageError(`acquisition augmentation setting ${name}=${String(r[name])} ${why}`);
  for (const k of Object.keys(r) as (keyof AcquisitionParams)[]) if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw bad(k, 'must be a finite number');
  if (r.probability < 0 || r.probability > 1) throw bad('probability', 'must be in 0..1');
  if (r.gamma < 1 || r.gamma > 4) throw bad('gamma', 'must be in 1..4');
  if (r.blurSigma < 0 || r.blurSigma > 10) throw bad('blurSigma', 'must be in 0..10');
  if (r.minScale <= 0 || r.minScale > 1) throw bad('minScale', 'must be in (0, 1]');
  if (r.noiseSigma < 0 || r.noiseSigma > 64) throw bad('noiseSigma', 'must be in 0..64');
  if (r.jpegQualityMin < 1 || r.jpegQualityMax > 100 || r.jpegQualityMin > r.jpegQualityMax) throw bad('jpegQualityMin', `and jpegQualityMax=${r.jpegQualityMax} must satisfy 1 <= min <= max <= 100`);
  return r;
}

/** The operations drawn for one variant (null = not applied). */
export interface AcquisitionDraw {
  gamma: number | null;
  blurSigma: number | null;
  scale: number | null;
  noiseSigma: number | null;
  jpegQuality: number | null;
  /** Seed of the noise. */
  noiseSeed: number;
}

/** Draws the operations of one variant; the stream is separate from the geometric draws. */
export function drawAcquisition(p: AcquisitionParams, seed: number, imageSha256: string, variant: number): AcquisitionDraw {
  const rng = new Rng(variantSeed(seed, `acquisition:${imageSha256}`, variant));
  // fixed draw order, every draw made even when an operation is off
  const on = () => rng.next() < p.probability;
  const g = on(), lg = rng.uniform(-Math.log(p.gamma), Math.log(p.gamma));
  const b = on(), sigma = rng.uniform(0.3, Math.max(0.3, p.blurSigma));
  const s = on(), scale = rng.uniform(p.minScale, 1);
  const n = on(), noise = rng.uniform(0, p.noiseSigma);
  const j = on(), q = Math.round(rng.uniform(p.jpegQualityMin, p.jpegQualityMax));
  return {
    gamma: g && p.gamma > 1 ? Math.exp(lg) : null,
    blurSigma: b && p.blurSigma > 0 ? sigma : null,
    scale: s && p.minScale < 1 ? scale : null,
    noiseSigma: n && p.noiseSigma > 0 ? noise : null,
    jpegQuality: j ? q : null,
    noiseSeed: rng.nextUint32(),
  };
}

/** Crop pixels per image pixel: the 224-pixel crop is cut from the shorter side. */
function cropScale(img: GreyImage): number {
  return 224 / Math.min(img.width, img.height);
}

/** Applies drawn acquisition operations, in the order a real pipeline would: gamma, blur, resolution, noise, JPEG. */
export async function applyAcquisition(img: GreyImage, d: AcquisitionDraw): Promise<GreyImage> {
  const { width, height } = img;
  let data = img.data;
  const perCrop = 1 / cropScale(img);
  if (d.gamma !== null) {
    const lut = new Uint8Array(256);
    for (let v = 0; v < 256; v++) lut[v] = Math.round(255 * Math.pow(v / 255, d.gamma));
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = lut[data[i]];
    data = out;
  }
  const raw = { raw: { width, height, channels: 1 as const } };
  const toGrey = async (p: sharp.Sharp) => {
    const { data: buf } = await p.extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  };
  if (d.blurSigma !== null) data = await toGrey(sharp(data, raw).blur(Math.max(0.3, d.blurSigma * perCrop)));
  if (d.scale !== null) {
    const w = Math.max(1, Math.round(width * d.scale * Math.min(1, cropScale(img))));
    const h = Math.max(1, Math.round(height * d.scale * Math.min(1, cropScale(img))));
    const small = await sharp(data, raw).resize(w, h, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
    data = await toGrey(sharp(small, { raw: { width: w, height: h, channels: 1 } }).resize(width, height, { fit: 'fill', kernel: 'linear' }));
  }
  if (d.noiseSigma !== null) {
    // noise drawn at crop scale keeps its strength after the resize averages image pixels
    const sigma = d.noiseSigma * Math.max(1, perCrop);
    const rng = new Rng(d.noiseSeed);
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(data[i] + sigma * rng.normal())));
    data = out;
  }
  if (d.jpegQuality !== null) {
    const jpeg = await sharp(data, raw).jpeg({ quality: d.jpegQuality }).toBuffer();
    data = await toGrey(sharp(jpeg).greyscale());
  }
  return { width, height, data };
}

/** The cache-key part of the acquisition augmentation. */
export function acquisitionKey(p: AcquisitionParams): string {
  return `acq-v${ACQUISITION_VERSION}:p${p.probability}:gamma${p.gamma}:blur${p.blurSigma}:scale${p.minScale}:noise${p.noiseSigma}:jpeg${p.jpegQualityMin}-${p.jpegQualityMax}`;
}

/**
 * The paper's geometric augmentation followed by acquisition augmentation; variant 0 is the image
 * itself. Deterministic: variant v of the image with content hash h depends only on (seed, h, v).
 */
export function createAcquisitionAugmenter(acquisition: Partial<AcquisitionParams> = {}, seed = 0, geometric: Partial<AugmentParams> = {}): Augmenter {
  const g = resolveAugmentParams(geometric);
  const a = resolveAcquisitionParams(acquisition);
  return {
    key: `${augmentKey(g, seed)}+${acquisitionKey(a)}`,
    apply: async (img, variant, imageSha256) => {
      if (variant === 0) return img;
      return applyAcquisition(augmentImage(img, g, seed, variant, imageSha256), drawAcquisition(a, seed, imageSha256, variant));
    },
  };
}
