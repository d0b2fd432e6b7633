/**
 * The served model: a run's backbone and head loaded once, predicting from uploaded bytes
 * (decode → resize/crop → one backbone pass → head), with a CAM from the same pass and an
 * occlusion map on request. Nothing is written to disk.
 */
import sharp from 'sharp';
import type { BackboneOptions } from '../backbone/backbone.js';
import { DEFAULT_SERVER_MAX_PIXELS } from '../input/load-image.js';
import { DeepCovidModel } from '../model/index.js';
import type { LoadedRun } from '../protocol/run-folder.js';
import { weightsNote } from '../protocol/run-files.js';
import { colourise, blendOverGrey, displayScale, encodePng, EXPLAINER_DEFAULTS, MAP_MEANING, VIRIDIS, type Heatmap } from '../explain/index.js';
import type { ApiHeatmap, ApiModelRef, ApiOperatingPoint, ApiPrediction, ApiProportion } from './api-types.js';
import type { Proportion, ThresholdMetrics } from '../evaluate/index.js';

/** Opacity of the pre-blended overlay PNG (the page lets the user choose its own). */
export const OVERLAY_ALPHA = EXPLAINER_DEFAULTS.overlayAlpha;

export const NOT_DIAGNOSTIC = 'Research software, not a diagnostic device: do not use this result for any clinical decision.';

/** Occlusion settings of the server (the CLI's `explain` uses a finer stride). */
export const OCCLUSION = EXPLAINER_DEFAULTS.occlusionInteractive;

const COLOUR_MAP = 'viridis, faded by strength: transparent = nothing, violet = low, yellow = high';

/** Options of one prediction. */
export interface PredictRequest {
  bytes: Uint8Array;
  /** Display name for messages (never used as a path). */
  name: string;
  occlusion?: boolean;
  /** Largest width x height accepted, checked before decoding. */
  maxPixels?: number;
}

/** What the HTTP layer needs from a model; tests may wrap it (e.g. to hold a request). */
export interface Predictor {
  readonly run: LoadedRun;
  readonly modelRef: ApiModelRef;
  readonly operatingPoint: ApiOperatingPoint | null;
  predict(req: PredictRequest): Promise<Omit<ApiPrediction, 'timings'> & { timings: Omit<ApiPrediction['timings'], 'queuedMs'> }>;
  close(): Promise<void>;
}

/** Options of `loadModelService`. */
export interface ModelServiceOptions {
  runtime?: BackboneOptions;
  /** Backbone ONNX file, when it moved since training. */
  modelPath?: string;
}

/** A Proportion in the API's shape (Wilson interval only). */
export function apiProportion(p: Proportion): ApiProportion {
  return { k: p.k, n: p.n, estimate: p.estimate, ci95: p.wilson ? [p.wilson[0], p.wilson[1]] : null };
}

/** Threshold metrics in the API's shape. */
export function apiOperatingPoint(m: ThresholdMetrics): ApiOperatingPoint {
  const c = m.confusion;
  return { threshold: m.threshold, sensitivity: apiProportion(m.sensitivity), specificity: apiProportion(m.specificity), confusion: { tp: c.tp, fn: c.fn, tn: c.tn, fp: c.fp } };
}

/** Which model and weights a run uses, with a warning when its numbers mean nothing. */
export function modelRefOf(run: LoadedRun): ApiModelRef {
  const b = run.record.backbone;
  const note = weightsNote(run.record).replace(/\*\*/g, '');
  return {
    runId: run.record.id,
    backbone: b.name,
    weights: b.weights,
    weightsNote: b.note,
    warning: b.weights === 'synthetic' ? `SYNTHETIC WEIGHTS: ${note}` : b.weights === 'unknown' ? note : null,
  };
}

/** Loads a run's model once and returns a Predictor over it. */
export async function loadModelService(runDir: string, opts: ModelServiceOptions = {}): Promise<Predictor> {
  return new ModelService(await DeepCovidModel.load(runDir, opts));
}

class ModelService implements Predictor {
  readonly modelRef: ApiModelRef;
  readonly operatingPoint: ApiOperatingPoint | null;
  readonly run: LoadedRun;

  constructor(private readonly model: DeepCovidModel) {
    this.run = model.run!;
    this.modelRef = modelRefOf(this.run);
    this.operatingPoint = this.run.metrics ? apiOperatingPoint(this.run.metrics.operatingPoint) : null;
  }

  async predict(req: PredictRequest) {
    const t0 = performance.now();
    const [ch, cw] = this.model.crop;
    const a = await this.model.analyse({ bytes: req.bytes, name: req.name }, {
      cam: true, occlusion: req.occlusion ?? false, limits: { maxPixels: req.maxPixels ?? DEFAULT_SERVER_MAX_PIXELS }, decodeOffThread: true,
    });
    const t1 = performance.now();
    const [cropPng, cam, occlusion] = await Promise.all([
      sharp(a.crop, { raw: { width: cw, height: ch, channels: 1 } }).toColourspace('b-w').png().toBuffer(),
      a.cam ? heatmapPictures('cam', a.cam.map, a.crop) : null,
      a.occlusion ? heatmapPictures('occlusion', a.occlusion, a.crop) : null,
    ]);
    const t2 = performance.now();
    const img = a.image;
    return {
      file: req.name,
      probability: a.probability,
      label: a.label,
      threshold: a.threshold,
      operatingPoint: this.operatingPoint,
      model: this.modelRef,
      image: { format: img.format, width: img.width, height: img.height, bitDepth: img.bitDepth },
      crop: { width: cw, height: ch, png: cropPng.toString('base64') },
      heatmaps: { cam, occlusion },
      timings: {
        decodeMs: a.timings.decodeMs, preprocessMs: a.timings.preprocessMs, inferenceMs: a.timings.inferenceMs, camMs: a.timings.camMs ?? 0,
        occlusionMs: a.timings.occlusionMs, encodeMs: ms(t2 - t1), totalMs: ms(t2 - t0),
      },
      notice: NOT_DIAGNOSTIC,
    };
  }

  async close(): Promise<void> {
    await this.model.release();
  }
}

function ms(x: number): number {
  return Math.round(x * 10) / 10;
}

/** The coloured heatmap and its overlay on the grey crop, as base64 PNGs. */
async function heatmapPictures(method: 'cam' | 'occlusion', map: Heatmap, grey: Uint8Array): Promise<ApiHeatmap> {
  const scaled = displayScale(map, 'positive');
  const heat = colourise(scaled, map.width, map.height, VIRIDIS);
  const overlay = blendOverGrey(grey, heat, OVERLAY_ALPHA);
  const [h, o] = await Promise.all([encodeLayer(heat.data, scaled, map.width, map.height), encodePng(overlay)]);
  return { method, meaning: MAP_MEANING[method].plain, colourMap: COLOUR_MAP, heatmapPng: h.toString('base64'), overlayPng: o.toString('base64'), overlayAlpha: OVERLAY_ALPHA };
}

/**
 * The heatmap as an RGBA layer: viridis colour, alpha = the display-scaled value, so regions with
 * nothing to show stay transparent and the X-ray under them keeps its contrast.
 */
async function encodeLayer(rgb: Uint8Array, scaled: Float32Array, width: number, height: number): Promise<Buffer> {
  const n = width * height;
  const rgba = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) {
    rgba[4 * i] = rgb[3 * i];
    rgba[4 * i + 1] = rgb[3 * i + 1];
    rgba[4 * i + 2] = rgb[3 * i + 2];
    rgba[4 * i + 3] = Math.round(255 * scaled[i]);
  }
  return sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer();
}
