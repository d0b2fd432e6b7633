/**
 * The JSON shapes of deep-covid's HTTP API. Types only, so the web page can import them too
 * (esbuild erases type imports); the OpenAPI document in openapi.ts describes the same shapes.
 */

import type { ApiModelRef, ApiOperatingPoint, ModelCard } from '../report/card-types.js';

export type { ApiModelRef, ApiOperatingPoint, ApiProportion, CardHazard, ModelCard } from '../report/card-types.js';

/** A heatmap as pictures on the model's 224 x 224 crop. */
export interface ApiHeatmap {
  method: 'cam' | 'occlusion';
  /** What a bright pixel means. */
  meaning: string;
  colourMap: string;
  /** The coloured heatmap alone as an RGBA PNG (base64), alpha = heat (transparent where there is nothing to show), for layering over `crop` at any opacity. */
  heatmapPng: string;
  /** The heatmap blended over the grey crop at opacity `overlayAlpha` (RGB PNG, base64). */
  overlayPng: string;
  overlayAlpha: number;
}

/** Response of POST /api/predict. */
export interface ApiPrediction {
  file: string;
  /** P(COVID) from the run's head, in [0, 1]. */
  probability: number;
  /** 'covid' when probability >= threshold, else 'non'. */
  label: 'covid' | 'non';
  threshold: number;
  /** The threshold's sensitivity and specificity on the run's test set; null when the run has no test metrics. */
  operatingPoint: ApiOperatingPoint | null;
  model: ApiModelRef;
  image: { format: string; width: number; height: number; bitDepth: number };
  /** The grey crop the model saw (PNG, base64) and its size. */
  crop: { width: number; height: number; png: string };
  /** CAM always (null only when the backbone exposes no feature map); occlusion when asked for. */
  heatmaps: { cam: ApiHeatmap | null; occlusion: ApiHeatmap | null };
  /** Milliseconds per stage. */
  timings: { queuedMs: number; decodeMs: number; preprocessMs: number; inferenceMs: number; camMs: number; occlusionMs: number | null; encodeMs: number; totalMs: number };
  notice: string;
}

/** Response of GET /api/model: the run's model card as data, plus the limits this server enforces. */
export interface ApiModelCard extends ModelCard {
  limits: { maxUploadBytes: number; maxPixels: number; concurrency: number; maxQueued: number };
}

/** Every error response. */
export interface ApiError {
  error: { code: string; message: string };
}
