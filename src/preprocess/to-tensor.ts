import sharp from 'sharp';
import type { GreyImage, LoadedImage } from '../input/grey-image.js';
import { decodeProbed, mapSharpError, type ProbedImage } from '../input/load-image.js';
import { greyPngLayout } from '../input/png-grey.js';
import { preprocessKey, type PreprocessConfig } from './config.js';
import { cropPlan, greyToTensor, resizeAndCropGrey } from './portable.js';

// the geometry and normalisation are shared with the browser (portable.ts); libvips resamples here
export { cropPlan, greyToTensor, resizedSize } from './portable.js';

const KERNEL = { bilinear: 'linear', bicubic: 'cubic', lanczos3: 'lanczos3', nearest: 'nearest' } as const;

/**
 * The identity of the preprocessing a file's bytes get, for cache keys: the config, plus which
 * resampler runs. 8-bit grey PNGs of up to twice the input size are resampled in JavaScript
 * (`cropProbed`), within 3 grey levels
 * of libvips (mean difference under 0.1 on dev images), so their features may differ slightly
 * from the libvips path's and are keyed apart.
 */
export function preprocessIdentity(bytes: Uint8Array, cfg: PreprocessConfig): string {
  const key = preprocessKey(cfg);
  return jsResamples(greyPngLayout(bytes), cfg) ? `${key}|js-resample` : key;
}

/**
 * Whether a grey PNG is resampled in JavaScript: only up to a 2x reduction. Beyond that libvips'
 * box pre-shrink is far cheaper than the full filter (a 2500 px film: ~5 ms against 30-40 ms), so
 * larger files are decoded in JavaScript but resampled by libvips (the same crop as before).
 */
function jsResamples(layout: { width: number; height: number } | null, cfg: PreprocessConfig): boolean {
  return layout !== null && Math.min(layout.width, layout.height) <= 2 * cfg.resizeShorter;
}

/**
 * Decodes, resizes and centre-crops a probed image the cheapest way that applies: 8-bit grey PNGs
 * in JavaScript (inflate, unfilter, and up to a 2x reduction the portable resampler: about 35% less
 * CPU than one libvips pipeline per small image; larger ones are resampled by libvips), other 8-bit files in one fused libvips pipeline, DICOM and 16-bit
 * files decoded first. Returns the crop, and the decoded image when the whole image was decoded
 * (so that a caller can measure it without decoding again).
 */
export async function cropProbed(p: ProbedImage, cfg: PreprocessConfig): Promise<{ pixels: Uint8Array; image: LoadedImage | null }> {
  if (jsResamples(p.greyPng, cfg)) {
    const image = await decodeProbed(p);
    return { pixels: resizeAndCropGrey(image.data, image.width, image.height, cfg), image };
  }
  if (p.greyPng) {
    const image = await decodeProbed(p);
    return { pixels: await resizeAndCrop(image, cfg), image };
  }
  if (!p.display || p.bitDepth !== 8) {
    const image = await decodeProbed(p);
    return { pixels: await resizeAndCrop(image, cfg), image };
  }
  return { pixels: await resizeAndCropProbed(p, cfg), image: null };
}

/**
 * Crops an image already decoded from `bytes` exactly as extraction does (`cropProbed`): the
 * JavaScript resampler for the grey PNGs it takes, libvips otherwise. Every path that predicts
 * (analyse, the server, explain) must crop this way, or the same file gets two probabilities.
 */
export async function cropDecoded(image: GreyImage, bytes: Uint8Array, cfg: PreprocessConfig): Promise<Uint8Array> {
  return jsResamples(greyPngLayout(bytes), cfg) ? resizeAndCropGrey(image.data, image.width, image.height, cfg) : resizeAndCrop(image, cfg);
}

/**
 * Resizes and centre-crops a probed image with libvips. Ordinary 8-bit files take one fused libvips pipeline
 * (decode, grey, resize, crop: about a third less CPU than decoding to memory first); DICOM,
 * 16-bit images and crops that need padding are decoded first, then resized.
 */
export async function resizeAndCropProbed(p: ProbedImage, cfg: PreprocessConfig): Promise<Uint8Array> {
  if (!p.display || p.bitDepth !== 8) return resizeAndCrop(await decodeProbed(p), cfg);
  const { width: w, height: h } = p;
  const plan = cropPlan(w, h, cfg);
  if (plan.padX > 0 || plan.padY > 0) return resizeAndCrop(await decodeProbed(p), cfg);
  try {
    let pipeline = p.display().greyscale();
    if (plan.nw !== w || plan.nh !== h) pipeline = pipeline.resize(plan.nw, plan.nh, { kernel: KERNEL[cfg.interpolation], fit: 'fill' });
    const { data } = await pipeline
      .extract({ left: plan.left, top: plan.top, width: cfg.crop[1], height: cfg.crop[0] })
      .extractChannel(0)
      .raw()
      .toBuffer({ resolveWithObject: true });
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (err) {
    throw mapSharpError(p.name, err, p.bytes);
  }
}

/**
 * Resizes and centre-crops a grey image as the config says, with libvips doing the resampling
 * (antialiased like PIL's; the difference from torchvision is measured in the tests).
 * Returns the cropped 8-bit grey pixels (crop[0] x crop[1]).
 */
export async function resizeAndCrop(img: GreyImage, cfg: PreprocessConfig): Promise<Uint8Array> {
  const [ch, cw] = cfg.crop;
  const { nw, nh, padX, padY, top, left } = cropPlan(img.width, img.height, cfg);
  let pipeline = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } });
  if (nw !== img.width || nh !== img.height) {
    pipeline = pipeline.resize(nw, nh, { kernel: KERNEL[cfg.interpolation], fit: 'fill' });
  }
  // torchvision pads with zeros when the image is smaller than the crop
  if (padX > 0 || padY > 0) {
    const padTop = Math.floor(padY / 2);
    const padLeft = Math.floor(padX / 2);
    pipeline = sharp(await pipeline.raw().toBuffer(), { raw: { width: nw, height: nh, channels: 1 } })
      .extend({ top: padTop, bottom: padY - padTop, left: padLeft, right: padX - padLeft, background: { r: 0, g: 0, b: 0 } });
  }
  const { data, info } = await pipeline
    .extract({ left, top, width: cw, height: ch })
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 1) throw new Error(`internal: expected 1 channel after crop, got ${info.channels}`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Preprocesses one grey image into a new Float32Array of 3 x H x W. */
export async function preprocess(img: GreyImage, cfg: PreprocessConfig): Promise<Float32Array> {
  const out = new Float32Array(3 * cfg.crop[0] * cfg.crop[1]);
  greyToTensor(await resizeAndCrop(img, cfg), cfg, out);
  return out;
}
