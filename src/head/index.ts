/** Last-layer (head) training of the Deep-COVID protocol on cached backbone features. */
export { Adam, ADAM_DEFAULTS, type AdamOptions } from './adam.js';
export { ConvKernel, type AttachedMaps } from './conv-kernel.js';
export { aliasPatternProbabilities, fillDropoutMask, fillSparseMask, maskLayout, maskWords, sparseMaskPlan, type MaskLayout, type SparseMaskPlan } from './dropout.js';
export { cloneHead, createHead } from './init.js';
export { createKernel, type HeadKernel, type SampleMask } from './kernels.js';
export { LinearKernel } from './linear-kernel.js';
export { computeLogits, predictProba, sampleCount } from './predict.js';
export { headFromJSON, headToJSON } from './serialize.js';
export { mapsByPosition, sparseMaps, type SparseMaps } from './sparse-maps.js';
export { balancedOrder, groupIds } from './sampler.js';
export { removeDirections, SOURCE_NULL_DEFAULTS, sourceDirections, type SourceDirections, type SourceFit, type SourceNullOptions } from './source-null.js';
export { checkHeadSpec } from './spec-check.js';
export { headSpecFor } from './spec-for.js';
export { trainHead, TRAIN_DEFAULTS, type EpochRecord, type LabelledFeatures, type TrainOptions, type TrainResult } from './train.js';
export { HEAD_CLASSES, headInputSize, headPositions, type Head, type HeadKind, type HeadSpec, type SerializedHead } from './types.js';
