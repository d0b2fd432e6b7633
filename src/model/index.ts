/** The trained model: one object that predicts, extracts features and explains. */
export {
  DeepCovidModel, isPredicted,
  type AnalyseOptions, type BatchOptions, type Decision, type FeatureOptions, type ImageAnalysis, type ImageInput,
  type ModelInfo, type ModelLoadOptions, type Prediction, type PredictionFailure, type PredictionResult,
} from './deep-covid-model.js';
