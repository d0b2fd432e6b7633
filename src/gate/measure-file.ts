/**
 * The image facts of a file in Node: PNG, JPEG, TIFF and WebP decoded once more with libvips, in
 * colour and at most MEASURE_SIDE px a side; DICOM by the DICOM reader. The statistics themselves
 * are image.ts's (shared with the client page).
 */
import sharp from 'sharp';
import type { GreyImage } from '../input/grey-image.js';
import { decodeProbed, mapSharpError, range16, type ProbedImage } from '../input/load-image.js';
import type { DicomMeta } from './header.js';
import { MEASURE_SIDE, measureGrey, pixelStats, shape } from './image.js';
import type { ImageFacts } from './types.js';

/**
 * Measures a probed image. PNG, JPEG, TIFF and WebP are decoded once more, in colour and at most
 * 512 px a side (16-bit files stretched over their own range, as src/input does), except an 8-bit
 * grey PNG of at most 512 px a side whose decoded pixels the caller passes (`decoded`): the same
 * facts from the same pixels. DICOM is decoded by the DICOM reader (pass `decoded` when the caller
 * already has it) and its header facts are returned as `meta`.
 * @throws InputError naming the file when it cannot be decoded.
 */
export async function measureImage(probe: ProbedImage, decoded?: GreyImage & { meta?: DicomMeta }): Promise<{ facts: ImageFacts; meta?: DicomMeta }> {
  if (!probe.display) {
    const img = decoded ?? (await decodeProbed(probe));
    return { facts: measureGrey(img), ...(img.meta ? { meta: img.meta } : {}) };
  }
  // a grey PNG already decoded whole and small enough to be measured as it is: the statistics
  // below would decode the same pixels again (one channel, no alpha, nothing to resize)
  if (decoded && probe.greyPng && Math.max(probe.width, probe.height) <= MEASURE_SIDE) return { facts: measureGrey(decoded) };
  try {
    const deep = probe.bitDepth === 16;
    // header only: is the file stored in colour? (flattening alpha turns grey into 3 equal channels)
    const stored = await sharp(probe.bytes, { limitInputPixels: probe.maxPixels }).metadata();
    const colour = (stored.channels ?? 1) - (stored.hasAlpha ? 1 : 0) >= 3;
    let pipeline = probe.display();
    if (Math.max(probe.width, probe.height) > MEASURE_SIDE) pipeline = pipeline.resize(MEASURE_SIDE, MEASURE_SIDE, { fit: 'inside' });
    if (!colour) pipeline = deep ? pipeline.toColourspace('grey16') : pipeline.greyscale();
    const { data, info } = await pipeline.raw(deep ? { depth: 'ushort' } : {}).toBuffer({ resolveWithObject: true });
    const px = deep ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength >> 1) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let lo = 0;
    let scale = 1;
    if (deep) {
      // the same stretch as the grey path: the image's own [min, max] onto 0..255 (the display
      // pipeline has flattened alpha away: every sample is a colour sample)
      const [min, max] = range16(px as Uint16Array);
      lo = min;
      scale = max > min ? 255 / (max - min) : 0;
    }
    return { facts: { ...shape(probe.width, probe.height), ...pixelStats(px, info.width, info.height, info.channels, lo, scale), storedChannels: colour ? 3 : 1 } };
  } catch (err) {
    throw mapSharpError(probe.name, err);
  }
}
