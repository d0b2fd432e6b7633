export { DEFAULT_AUGMENT_PARAMS, drawAugment, resolveAugmentParams, variantSeed, type AugmentDraw, type AugmentParams } from './params.js';
export { augmentKey, augmentImage, createAugmenter } from './augmenter.js';
export { adjustIntensity, augmentMatrix, composeAffine, invertAffine, warpAffine, type Affine } from './warp.js';
export {
  acquisitionKey, applyAcquisition, createAcquisitionAugmenter, DEFAULT_ACQUISITION_PARAMS, drawAcquisition, resolveAcquisitionParams,
  type AcquisitionDraw, type AcquisitionParams,
} from './acquisition.js';
