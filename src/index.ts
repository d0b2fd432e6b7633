/**
 * deep-covid: COVID-19 detection in chest X-rays by deep transfer learning.
 * Research software, not a diagnostic device.
 */
export * from './errors.js';
export type { GreyImage, LoadedImage, ImageFormat } from './input/grey-image.js';
export { loadGreyImage, DEFAULT_MAX_PIXELS, type ImageSource, type LoadLimits } from './input/load-image.js';
export { IMAGENET_224, type PreprocessConfig } from './preprocess/config.js';
export { preprocess, resizeAndCrop, greyToTensor } from './preprocess/to-tensor.js';
export { Backbone, type BackboneOptions } from './backbone/backbone.js';
export { BACKBONES, PAPER_BACKBONES, backboneSpec } from './backbone/registry.js';
export type { ModelManifest, HeadKind } from './backbone/manifest.js';
export { FeatureCache } from './features/cache.js';
export { extractFeatures, type FeatureRequest, type ExtractResult, type Augmenter } from './features/extract.js';
export { readDataset, splitOf, type Dataset, type DatasetItem } from './dataset/read.js';
