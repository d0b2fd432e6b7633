/**
 * deep-covid: COVID-19 detection in chest X-rays by deep transfer learning.
 * Research software, not a diagnostic device.
 */
export * from './errors.js';
export type { GreyImage, LoadedImage, ImageFormat } from './input/grey-image.js';
export { loadGreyImage, DEFAULT_MAX_PIXELS, DEFAULT_SERVER_MAX_PIXELS, type ImageSource, type LoadLimits } from './input/load-image.js';
export { loadGreyImageOffThread, DecodePool, type DecodePoolOptions } from './input/decode-pool.js';
export { IMAGENET_224, type PreprocessConfig } from './preprocess/config.js';
export { preprocess, resizeAndCrop, greyToTensor } from './preprocess/to-tensor.js';
export { Backbone, type BackboneOptions } from './backbone/backbone.js';
export { BACKBONES, PAPER_BACKBONES, backboneSpec, provenanceOf, type BackboneSpec, type KnownWeights, type WeightsProvenance } from './backbone/registry.js';
export { resolveManifest, type ModelManifest, type HeadKind, type FeatureTensor } from './backbone/manifest.js';
export { FeatureCache } from './features/cache.js';
export { extractFeatures, type FeatureRequest, type ExtractResult, type Augmenter } from './features/extract.js';
export { readDataset, splitOf, type Dataset, type DatasetItem } from './dataset/read.js';
export {
  assessHeader, assessImage, measureImage, fitGate, gateFromJSON, gateToJSON, assessFeatures, assessScore, scoreFeatures, combineGate,
  inspectImage, gateFiles, gateAllows, gateFlags, GATE_DEFAULTS,
  type GateResult, type GateReason, type GateVerdict, type GateModel, type GateSettings, type HeaderFacts, type ImageFacts, type OodFacts,
} from './gate/index.js';
export { evaluatePredictions, type EvaluationReport, type EvaluationOptions } from './evaluate/index.js';
export { trainHead, predictProba, headToJSON, headFromJSON, type Head, type HeadSpec, type TrainOptions } from './head/index.js';
export { createAugmenter, DEFAULT_AUGMENT_PARAMS, type AugmentParams } from './augment/index.js';
export { buildDataset, checkDataset, augmentDataset } from './dataset/index.js';
export { PAPER_PROTOCOL, type ProtocolConfig } from './protocol/config.js';
export { trainRun, type TrainRunOptions, type TrainRunResult } from './protocol/train-run.js';
export { reproduce, type ReproduceOptions } from './protocol/reproduce.js';
export { readRunDir, validateRunRecord, RUN_FILES, RUN_VERSION, type LoadedRun, type RunRecord } from './protocol/run-folder.js';
export {
  ClassActivationMap, OcclusionSensitivity, EXPLAINER_DEFAULTS, MAP_MEANING, occlusionMap,
  type CamResult, type Heatmap, type OcclusionSettings, type ShortcutReport,
} from './explain/index.js';
export {
  DeepCovidModel, isPredicted,
  type AnalyseOptions, type BatchOptions, type Decision, type ImageAnalysis, type ImageInput, type ModelInfo, type ModelLoadOptions,
  type Prediction, type PredictionFailure, type PredictionResult,
} from './model/index.js';
export { evaluateRun, explainFiles, predictFiles, shortcutCheck, type EvaluateRunOptions, type ExplainFilesOptions, type PredictOptions, type ShortcutOptions } from './tasks/index.js';
export type { ProgressEvent, ProgressListener } from './util/progress.js';
export { writeRunReport, writeReproduceReport } from './report/index.js';
export { buildServer, loadModelService, type Predictor } from './server/index.js';
