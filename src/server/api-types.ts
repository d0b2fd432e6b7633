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
  /** Unit of the map values ('logit' for CAM, 'drop in P(COVID)' for occlusion). */
  unit: string;
  /** The map's largest value (0 when nothing is positive): full colour in `heatmapPng`. */
  max: number;
  /** The coloured heatmap alone as an RGBA PNG (base64) scaled to the map's own maximum, alpha = heat (transparent where there is nothing to show), for layering over `crop` at any opacity. */
  heatmapPng: string;
  /** The same layer on the fixed scale shared by every image (0 to `max` in `unit`), so a faint map stays faint. */
  fixed: { max: number; heatmapPng: string };
  /** The heatmap (own maximum) blended over the grey crop, up to opacity `overlayAlpha` where the map is strongest (RGB PNG, base64). */
  overlayPng: string;
  overlayAlpha: number;
}

import type { GateResult } from '../gate/types.js';

/** The whole image (not only the model's crop), shrunk for display, with where the crop lies in it. */
export interface ApiFullImage {
  width: number;
  height: number;
  /** Grey JPEG, base64. */
  jpeg: string;
  /** The crop as fractions of the image's width and height (may reach outside [0, 1] when the image was padded). */
  cropBox: { left: number; top: number; width: number; height: number };
}

/** Response of POST /api/predict. */
export interface ApiPrediction {
  file: string;
  /**
   * The input gate's verdict: 'refused' (no probability: the image is not what the model was built
   * for), 'warned' (probability with the warning first) or 'passed', with every reason in words.
   */
  gate: GateResult;
  /** P(COVID) from the run's head, in [0, 1]; null when the gate refused the image. */
  probability: number | null;
  /** 'covid' when probability >= threshold, else 'non'; null when refused. */
  label: 'covid' | 'non' | null;
  threshold: number;
  /** The threshold's sensitivity and specificity on the run's test set; null when the run has no test metrics. */
  operatingPoint: ApiOperatingPoint | null;
  model: ApiModelRef;
  image: { format: string; width: number; height: number; bitDepth: number };
  /** The grey crop the model saw (PNG, base64) and its size. */
  crop: { width: number; height: number; png: string };
  /** The full image, so a viewer can show the heatmap placed on it. */
  fullImage: ApiFullImage;
  /** CAM always (null only when the backbone exposes no feature map); occlusion when asked for. */
  heatmaps: { cam: ApiHeatmap | null; occlusion: ApiHeatmap | null };
  /** Milliseconds per stage. */
  timings: { queuedMs: number; decodeMs: number; preprocessMs: number; inferenceMs: number; camMs: number; occlusionMs: number | null; encodeMs: number; totalMs: number };
  notice: string;
}

/** A prediction the gate let through: it has a probability and a label. */
export type ApiAssessed = ApiPrediction & { probability: number; label: 'covid' | 'non' };

/** True when the answer has a probability (the gate did not refuse the image). */
export function isAssessed(r: ApiPrediction): r is ApiAssessed {
  return r.probability !== null;
}

/** Response of GET /api/model: the run's model card as data, plus the limits this server enforces. */
export interface ApiModelCard extends ModelCard {
  limits: { maxUploadBytes: number; maxPixels: number; concurrency: number; maxQueued: number };
}

/** Every error response. */
export interface ApiError {
  error: { code: string; message: string };
}
