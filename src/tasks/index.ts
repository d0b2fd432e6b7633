/** What a user asks of a trained model: predict files, evaluate a dataset, explain images, check for shortcuts. */
export { predictFiles, type PredictOptions, type Prediction } from './predict.js';
export { evaluateRun, type EvaluateRunOptions } from './evaluate-run.js';
export { explainFiles, type ExplainedFile, type ExplainFilesOptions, type ExplainSummary } from './explain-files.js';
export { shortcutCheck, type ShortcutOptions } from './shortcut-check.js';
