/** Screening an archive: one results row per input, on this machine or on queue workers. */
export { screen, type ScreenOptions, type ScreenResult } from './screen.js';
export { runWorker, type WorkerOptions, type WorkerEvent, type ScreenWorker } from './queue/worker.js';
export { runFeatureWorker, type FeatureWorker, type FeatureWorkerOptions } from './queue/feature-worker.js';
export { extractFeaturesOnQueue, type QueueExtractOptions } from './queue/features.js';
export { loadScreenModel, readModelInfo, type ModelInfo, type ScreenModel, type ItemOutcome, type BatchItem } from './model.js';
export { listSource, type ScreenInput, type ScreenSource } from './source.js';
export { ResultsFile, resultsFormat, GATE_NOT_ASSESSED, ROW_COLUMNS, type ScreenRow, type ResultsFormat, type Decision } from './results.js';
export type { ScreenSummary } from './summary.js';
export type { CoordinatorOptions } from './queue/coordinator.js';
