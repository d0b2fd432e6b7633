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
import { EXPLAINER_DEFAULTS } from '../explain/index.js';
import { apiOperatingPoint, modelRef } from '../report/model-card.js';
import type { ApiModelRef, ApiOperatingPoint, ApiPrediction } from './api-types.js';
import { fullImagePreview, heatmapPictures } from './pictures.js';

export const NOT_DIAGNOSTIC = 'Research software, not a diagnostic device: do not use this result for any clinical decision.';

/** Occlusion settings of the server (the CLI's `explain` uses a finer stride). */
export const OCCLUSION = EXPLAINER_DEFAULTS.occlusionInteractive;

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

/** Which model and weights a run uses, with a warning when its numbers mean nothing. */
export function modelRefOf(run: LoadedRun): ApiModelRef {
  return modelRef(run.record);
}

/** Loads a run's model once and returns a Predictor over it. */
export async function loadModelService(runDir: string, opts: ModelServiceOptions = {}): Promise<Predictor> {
  // inference on a thread of its own unless told otherwise: a pass must not stop the event loop
  const runtime = { ...opts.runtime, offThread: opts.runtime?.offThread ?? true };
  return new ModelService(await DeepCovidModel.load(runDir, { ...opts, runtime }));
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
    // the CAM's fixed colour scale depends on its number of feature-map cells
    const camCells = a.cam ? a.cam.lowres.width * a.cam.lowres.height : 1;
    const [cropPng, fullImage, cam, occlusion] = await Promise.all([
      sharp(a.crop, { raw: { width: cw, height: ch, channels: 1 } }).toColourspace('b-w').png().toBuffer(),
      fullImagePreview(a.image, this.model.preprocess),
      a.cam ? heatmapPictures('cam', a.cam.map, a.crop, camCells) : null,
      a.occlusion ? heatmapPictures('occlusion', a.occlusion, a.crop, camCells) : null,
    ]);
    const t2 = performance.now();
    const img = a.image;
    return {
      file: req.name,
      gate: a.gate,
      probability: a.probability,
      label: a.label,
      threshold: a.threshold,
      operatingPoint: this.operatingPoint,
      model: this.modelRef,
      image: { format: img.format, width: img.width, height: img.height, bitDepth: img.bitDepth },
      crop: { width: cw, height: ch, png: cropPng.toString('base64') },
      fullImage,
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
