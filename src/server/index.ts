/** deep-covid's HTTP server: the API, the web page and the bounded inference queue. */
export { buildServer, DEFAULT_MAX_UPLOAD_BYTES, safeName, type ServerOptions } from './app.js';
export type { ApiError, ApiHeatmap, ApiModelCard, ApiModelRef, ApiOperatingPoint, ApiPrediction, ApiProportion } from './api-types.js';
export { describeError, HttpError, inputErrorStatus } from './http-errors.js';
export { INTENDED_USE, modelCard, PRIVACY_NOTE, type ServedLimits } from './model-card.js';
export { loadModelService, NOT_DIAGNOSTIC, type ModelServiceOptions, type PredictRequest, type Predictor } from './model-service.js';
export { openApiDocument } from './openapi.js';
export { BusyError, InferenceQueue, type QueueOptions } from './queue.js';
export { CONTENT_SECURITY_POLICY, SECURITY_HEADERS } from './security.js';
