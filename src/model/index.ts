/** The trained model: one object that predicts, extracts features and explains. */
export {
  DeepCovidModel, isPredicted, isRefused,
  type AnalyseOptions, type BatchOptions, type CovidModel, type Decision, type FeatureOptions, type ImageAnalysis, type ImageInput,
  type ModelInfo, type ModelLoadOptions, type Prediction, type PredictionFailure, type PredictionRefused, type PredictionResult, type RequestScores,
} from './deep-covid-model.js';
export { EnsembleModel } from './ensemble-model.js';
export { loadModel } from './load-model.js';
