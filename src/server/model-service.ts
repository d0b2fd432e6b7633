/**
 * The served model: a run's backbone and head loaded once, predicting from uploaded bytes
 * (decode → resize/crop → one backbone pass → head), with a CAM from the same pass and an
 * occlusion map on request. Nothing is written to disk.
 */
import sharp from 'sharp';
import type { BackboneOptions } from '../backbone/backbone.js';
import { DEFAULT_SERVER_MAX_PIXELS } from '../input/load-image.js';
import { EnsembleModel, loadModel, type CovidModel } from '../model/index.js';
import type { LoadedRun } from '../protocol/run-folder.js';
import { EXPLAINER_DEFAULTS } from '../explain/index.js';
import { buildEnsembleCard, buildModelCard, ensembleRef, modelRef } from '../report/model-card.js';
import { readShortcutCheck } from '../report/run-data.js';
import type { ApiModelRef, ApiOperatingPoint, ApiPrediction, ModelCard } from './api-types.js';
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

/** What the HTTP layer needs from a model (a run or an ensemble); tests may wrap it (e.g. to hold a request). */
export interface Predictor {
  /** The run's or the ensemble's id. */
  readonly runId: string;
  /** The model card (GET /api/model adds the server's limits). */
  readonly card: ModelCard;
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

/**
 * Loads a run's or an ensemble's model once and returns a Predictor over it. Each backbone runs
 * on a thread of its own unless `runtime.offThread` is false.
 */
export async function loadModelService(dir: string, opts: ModelServiceOptions = {}): Promise<Predictor> {
  // a backbone pass must not stop the event loop (onnxruntime runs synchronously on its caller)
  const runtime = { ...opts.runtime, offThread: opts.runtime?.offThread ?? true };
  const model = await loadModel(dir, { ...opts, runtime });
  try {
    return new ModelService(model, await readShortcutCheck(model.dir));
  } catch (err) {
    await model.release();
    throw err;
  }
}

class ModelService implements Predictor {
  readonly runId: string;
  readonly card: ModelCard;
  readonly modelRef: ApiModelRef;
  readonly operatingPoint: ApiOperatingPoint | null;

  constructor(private readonly model: CovidModel, shortcutCheck: unknown) {
    if (model instanceof EnsembleModel) {
      this.card = buildEnsembleCard(model.ensemble, shortcutCheck);
      this.modelRef = ensembleRef(model.ensemble);
    } else {
      const run = model.runs[0];
      this.card = buildModelCard({ record: run.record, metrics: run.metrics, shortcutCheck });
      this.modelRef = modelRefOf(run);
    }
    this.runId = this.card.runId;
    this.operatingPoint = this.card.test ? this.card.test.operatingPoint : null;
  }

  async predict(req: PredictRequest) {
    const t0 = performance.now();
    const [ch, cw] = this.model.crop;
    const a = await this.model.analyse({ bytes: req.bytes, name: req.name }, {
      cam: true, occlusion: req.occlusion ?? false, limits: { maxPixels: req.maxPixels ?? DEFAULT_SERVER_MAX_PIXELS }, decodeOffThread: true,
    });
    const t1 = performance.now();
    // the CAM's fixed colour scale depends on its number of feature-map cells
    const camCells = a.cam ? a.cam.cells ?? a.cam.lowres.width * a.cam.lowres.height : 1;
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
