/**
 * The served model: a run's backbone and head loaded once, predicting from uploaded bytes
 * (decode → resize/crop → one backbone pass → head), with a CAM from the same pass and an
 * occlusion map on request. Nothing is written to disk.
 */
import sharp from 'sharp';
import type { Backbone, BackboneOptions } from '../backbone/backbone.js';
import { predictProba } from '../head/index.js';
import { DEFAULT_MAX_PIXELS, loadGreyImage } from '../input/load-image.js';
import { greyToTensor, resizeAndCrop } from '../preprocess/to-tensor.js';
import { readRunDir, type LoadedRun } from '../protocol/run-dir.js';
import { loadRunBackbone } from '../protocol/run-model.js';
import { apiOperatingPoint, modelRef } from '../report/model-card.js';
import { camFromFeatureMap, occlusionMap, resizeBilinear, type Heatmap } from '../explain/index.js';
import type { ApiModelRef, ApiOperatingPoint, ApiPrediction } from './api-types.js';
import { fullImagePreview, heatmapPictures } from './pictures.js';



export const NOT_DIAGNOSTIC = 'Research software, not a diagnostic device: do not use this result for any clinical decision.';

/** Occlusion settings of the server (the CLI's `explain` uses a finer stride of 16). */
export const OCCLUSION = Object.freeze({ patch: 32, stride: 32, batchSize: 25 });

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

/** Loads a run's head and backbone once and returns a Predictor over them. */
export async function loadModelService(runDir: string, opts: ModelServiceOptions = {}): Promise<Predictor> {
  const run = await readRunDir(runDir);
  const { backbone, tensor } = await loadRunBackbone(run, opts.runtime, opts.modelPath);
  // learn the feature shapes now, so the first upload does not pay for it
  await backbone.featureShapes();
  return new ModelService(run, backbone, tensor);
}

class ModelService implements Predictor {
  readonly modelRef: ApiModelRef;
  readonly operatingPoint: ApiOperatingPoint | null;

  constructor(readonly run: LoadedRun, private readonly backbone: Backbone, private readonly tensor: 'pooled' | 'map') {
    this.modelRef = modelRefOf(run);
    this.operatingPoint = run.metrics ? apiOperatingPoint(run.metrics.operatingPoint) : null;
  }

  async predict(req: PredictRequest) {
    const t0 = performance.now();
    const cfg = this.backbone.manifest.preprocess;
    const [ch, cw] = cfg.crop;
    const img = await loadGreyImage({ bytes: req.bytes, name: req.name }, { maxPixels: req.maxPixels ?? DEFAULT_MAX_PIXELS });
    const t1 = performance.now();
    const grey = await resizeAndCrop(img, cfg);
    const input = new Float32Array(this.backbone.imageLength);
    greyToTensor(grey, cfg, input);
    const t2 = performance.now();
    const hasMap = this.backbone.manifest.features.map !== null;
    // one pass gives the head's input and the CAM's feature map
    const out = await this.backbone.run(input, 1, { pooled: this.tensor === 'pooled', map: hasMap });
    const probability = predictProba(this.run.head, (this.tensor === 'pooled' ? out.pooled : out.map)!)[0];
    const t3 = performance.now();
    let camMap: Heatmap | null = null;
    let camCells = 1;
    if (hasMap) {
      const shape = (await this.backbone.featureShapes()).map!;
      camCells = shape[1] * shape[2];
      camMap = resizeBilinear(camFromFeatureMap(this.run.head, out.map!, shape).cam, cw, ch);
    }
    const t4 = performance.now();
    let occMap: Heatmap | null = null;
    // non-overlapping 32-pixel patches: 49 backbone passes keep an interactive request to seconds
    if (req.occlusion) occMap = (await occlusionMap({ backbone: this.backbone, head: this.run.head, tensor: this.tensor }, input, OCCLUSION)).map;
    const t5 = performance.now();
    const [cropPng, fullImage, cam, occlusion] = await Promise.all([
      sharp(grey, { raw: { width: cw, height: ch, channels: 1 } }).toColourspace('b-w').png().toBuffer(),
      fullImagePreview(img, cfg),
      camMap ? heatmapPictures('cam', camMap, grey, camCells) : null,
      occMap ? heatmapPictures('occlusion', occMap, grey, camCells) : null,
    ]);
    const t6 = performance.now();
    const threshold = this.run.record.threshold.value;
    return {
      file: req.name,
      probability,
      label: probability >= threshold ? ('covid' as const) : ('non' as const),
      threshold,
      operatingPoint: this.operatingPoint,
      model: this.modelRef,
      image: { format: img.format, width: img.width, height: img.height, bitDepth: img.bitDepth },
      crop: { width: cw, height: ch, png: cropPng.toString('base64') },
      fullImage,
      heatmaps: { cam, occlusion },
      timings: {
        decodeMs: ms(t1 - t0), preprocessMs: ms(t2 - t1), inferenceMs: ms(t3 - t2), camMs: ms(t4 - t3),
        occlusionMs: req.occlusion ? ms(t5 - t4) : null, encodeMs: ms(t6 - t5), totalMs: ms(t6 - t0),
      },
      notice: NOT_DIAGNOSTIC,
    };
  }

  async close(): Promise<void> {
    await this.backbone.release();
  }
}

function ms(x: number): number {
  return Math.round(x * 10) / 10;
}
