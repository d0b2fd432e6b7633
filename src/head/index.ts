/** Last-layer (head) training of the Deep-COVID protocol on cached backbone features. */
export { Adam, ADAM_DEFAULTS, type AdamOptions } from './adam.js';
export { aliasPatternProbabilities, fillDropoutMask, fillHalfMaskAnd, maskLayout, maskWords, nonzeroBits, type MaskLayout } from './dropout.js';
export { cloneHead, createHead } from './init.js';
export { HeadKernel, type SampleMask } from './kernels.js';
export { computeLogits, predictProba, sampleCount } from './predict.js';
export { headFromJSON, headToJSON } from './serialize.js';
export { checkHeadSpec } from './spec-check.js';
export { headSpecFor } from './spec-for.js';
export { trainHead, TRAIN_DEFAULTS, type EpochRecord, type LabelledFeatures, type TrainOptions, type TrainResult } from './train.js';
export { HEAD_CLASSES, headInputSize, headPositions, type Head, type HeadKind, type HeadSpec, type SerializedHead } from './types.js';
