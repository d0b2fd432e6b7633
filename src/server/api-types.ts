/**
 * The JSON shapes of deep-covid's HTTP API. Types only, so the web page can import them too
 * (esbuild erases type imports); the OpenAPI document in openapi.ts describes the same shapes.
 */

/** A proportion k/n with its Wilson 95% interval (null bounds when n = 0). */
export interface ApiProportion {
  k: number;
  n: number;
  estimate: number | null;
  /** Wilson score 95% interval [lower, upper]. */
  ci95: [number, number] | null;
}

/** How the run's operating threshold performed on the run's own test set. */
export interface ApiOperatingPoint {
  threshold: number;
  /** COVID test images found: tp of (tp + fn). */
  sensitivity: ApiProportion;
  /** Non-COVID test images correctly not flagged: tn of (tn + fp). */
  specificity: ApiProportion;
  confusion: { tp: number; fn: number; tn: number; fp: number };
}

/** Which model answered. */
export interface ApiModelRef {
  runId: string;
  backbone: string;
  /** 'imagenet' = real pretrained weights; 'synthetic' = no trained weights, results mean nothing. */
  weights: 'imagenet' | 'synthetic' | 'unknown';
  weightsNote: string;
  /** Set when the result must not be read as a real prediction. */
  warning: string | null;
}

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

import type { GateResult } from '../gate/types.js';

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
  /** CAM always (null only when the backbone exposes no feature map); occlusion when asked for. */
  heatmaps: { cam: ApiHeatmap | null; occlusion: ApiHeatmap | null };
  /** Milliseconds per stage. */
  timings: { queuedMs: number; decodeMs: number; preprocessMs: number; inferenceMs: number; camMs: number; occlusionMs: number | null; encodeMs: number; totalMs: number };
  notice: string;
}

/** Response of GET /api/model: the run's model card as data. */
export interface ApiModelCard {
  runId: string;
  createdAt: string;
  model: ApiModelRef;
  backbone: { name: string; file: string; sha256: string; head: string; dropout: number };
  training: {
    dataset: string;
    origin: 'manifest' | 'folders';
    counts: {
      train: { n: number; covid: number };
      trainAugmented: { n: number; covid: number };
      validation: { n: number; covid: number };
      test: { n: number; covid: number } | null;
    };
    validationSplitBy: 'patient' | 'image';
    protocol: { epochs: number; bestEpoch: number; batchSize: number; lr: number; augmentFactor: number; seed: number };
  };
  threshold: { value: number; chosenOn: 'validation'; targetSensitivity: number; fallback: boolean; howChosen: string };
  test: {
    n: number;
    covid: number;
    auc: { value: number; ci95: [number, number] | null; method: string } | null;
    operatingPoint: ApiOperatingPoint;
  } | null;
  intendedUse: string;
  limitations: string[];
  privacy: string;
  limits: { maxUploadBytes: number; maxPixels: number; concurrency: number; maxQueued: number };
}

/** Every error response. */
export interface ApiError {
  error: { code: string; message: string };
}
