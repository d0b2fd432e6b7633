import type { Augmenter } from '../features/extract.js';
import type { GreyImage } from '../input/grey-image.js';
import { drawAugment, resolveAugmentParams, type AugmentParams } from './params.js';
import { adjustIntensity, augmentMatrix, warpAffine } from './warp.js';

/** Version of the augmentation code: bump when the output for the same parameters changes. */
const AUGMENT_VERSION = 1;

/** The cache-key string of an augmentation: every parameter and the seed. */
export function augmentKey(p: AugmentParams, seed: number): string {
  return `augment-v${AUGMENT_VERSION}:rot${p.rotateDeg}:zoom${p.zoomMin}-${p.zoomMax}:shear${p.shearDeg}:shift${p.shiftX},${p.shiftY}` +
    `:bright${p.brightness}:contrast${p.contrast}:flip${p.flipProbability}:seed${seed}`;
}

/**
 * Augments one image: the geometric operations as ONE composed affine warp (bilinear, black
 * background, same size), then brightness and contrast. Variant 0 is the image itself.
 */
export function augmentImage(img: GreyImage, p: AugmentParams, seed: number, variant: number, imageSha256: string): GreyImage {
  if (variant === 0) return img;
  const draw = drawAugment(p, seed, imageSha256, variant, img.width, img.height);
  const out = warpAffine(img, augmentMatrix(draw, img.width, img.height));
  adjustIntensity(out.data, draw.brightness, draw.contrast);
  return out;
}

/**
 * An Augmenter for feature extraction and `dataset augment`: variant v of the image whose content
 * hash is h gets parameters drawn from an Rng seeded by (seed, h, v), so variants do not depend on
 * processing order and the training pipeline and the materialised files agree.
 */
export function createAugmenter(params: Partial<AugmentParams> = {}, seed = 0): Augmenter {
  const p = resolveAugmentParams(params);
  return {
    key: augmentKey(p, seed),
    apply: (img, variant, imageSha256) => augmentImage(img, p, seed, variant, imageSha256),
  };
}
