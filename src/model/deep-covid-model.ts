/**
 * A trained deep-covid model, loaded once and used everywhere: the frozen backbone's session and
 * its preprocessing contract, the trained head, the feature tensor the head reads, the operating
 * threshold chosen on validation, and the run's record. Predicting files, evaluating a dataset,
 * explaining an image, the shortcut check, the server, batch screening and PACS all go through
 * this object, so none of them rebuilds the model plumbing (as TorchXRayVision's models carry
 * their thresholds and `features()`, and transformers.js's `from_pretrained` objects their config).
 */
import { access } from 'node:fs/promises';
import { Backbone, type BackboneOptions } from '../backbone/backbone.js';
import { tensorForHead, type FeatureTensor } from '../backbone/manifest.js';
import type { WeightsProvenance } from '../backbone/registry.js';
import { RunError, type InputProblem } from '../errors.js';
import type { FeatureCache } from '../features/cache.js';
import { extractFeatures, type Augmenter, type ExtractResult, type FeatureRequest } from '../features/extract.js';
import { headSpecFor, predictProba, type Head } from '../head/index.js';
import type { LoadedImage } from '../input/grey-image.js';
import { loadGreyImage, readSource, type ImageSource, type LoadLimits } from '../input/load-image.js';
import { loadGreyImageOffThread } from '../input/decode-pool.js';
import type { PreprocessConfig } from '../preprocess/config.js';
import { greyToTensor, resizeAndCrop } from '../preprocess/to-tensor.js';
import { readRunDir, type LoadedRun } from '../protocol/run-folder.js';
import { camFromFeatureMap, type CamResult } from '../explain/cam.js';
import { ClassActivationMap, EXPLAINER_DEFAULTS, OcclusionSensitivity, type OcclusionSettings } from '../explain/explainers.js';
import { resizeBilinear, type Heatmap } from '../explain/heatmap.js';
import type { CamModel } from '../explain/model.js';
import type { OcclusionOptions, OcclusionResult } from '../explain/occlusion.js';
import { sha256Hex } from '../util/hash.js';
import type { ProgressListener } from '../util/progress.js';

/** An image to predict: a file path, or bytes already in memory with a display name. */
export type ImageInput = ImageSource;

/** The decision at the operating threshold. */
export type Decision = 'covid' | 'non';

/** A prediction for one input. */
export interface PredictionResult {
  file: string;
  /** P(COVID) from the head's softmax. */
  probability: number;
  /** `covid` when probability ≥ threshold. */
  label: Decision;
  threshold: number;
  /** sha256 of the input's bytes. */
  sha256: string;
}

/** Why one input could not be predicted. */
export interface PredictionFailure {
  file: string;
  error: string;
  /** The kind of input problem, when the input (not the system) was at fault. */
  problem?: InputProblem;
}

/** A prediction or the reason there is none; batch calls never throw for one bad input. */
export type Prediction = PredictionResult | PredictionFailure;

/** True when a prediction holds a probability. */
export function isPredicted(p: Prediction): p is PredictionResult {
  return 'probability' in p;
}

/** Options of `DeepCovidModel.load`. */
export interface ModelLoadOptions {
  /** Threads, device, model search folders, warnings. */
  runtime?: BackboneOptions;
  /** The backbone's ONNX file, when it moved since training (its sha256 must match the run's). */
  modelPath?: string;
}

/** Options of a batch call. */
export interface BatchOptions {
  /** Stops the work between batches. */
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Feature cache (features keyed by image content, model and preprocessing); none by default. */
  cache?: FeatureCache | null;
  limits?: Partial<LoadLimits>;
  /** Images per backbone pass (default 20). */
  batchSize?: number;
  /** Progress label. */
  label?: string;
}

/** Options of `features`. */
export interface FeatureOptions extends BatchOptions {
  /** Which tensor (default: the one the head reads). */
  tensor?: FeatureTensor;
  augmenter?: Augmenter;
  /** false: fill the cache only. */
  collect?: boolean;
}

/** Everything about one image: what the model saw, its prediction, and the requested maps. */
export interface ImageAnalysis extends PredictionResult {
  /** The decoded image (8-bit grey, display orientation). */
  image: LoadedImage;
  /** The grey crop the model saw (crop height x width). */
  crop: Uint8Array;
  /** Class activation map at crop size, when asked for and the backbone has a feature map. */
  cam: CamResult | null;
  /** Occlusion map at crop size, when asked for. */
  occlusion: Heatmap | null;
  timings: { decodeMs: number; preprocessMs: number; inferenceMs: number; camMs: number | null; occlusionMs: number | null };
}

/** Options of `analyse`. */
export interface AnalyseOptions {
  cam?: boolean;
  /** true = the interactive defaults; or settings of the occlusion map. */
  occlusion?: boolean | Partial<OcclusionSettings>;
  limits?: Partial<LoadLimits>;
  signal?: AbortSignal;
  /** Decode on a worker thread (loadGreyImageOffThread), so the caller's event loop stays free: what a server wants. */
  decodeOffThread?: boolean;
  onOcclusionProgress?: OcclusionOptions['onProgress'];
  roi?: OcclusionOptions['roi'];
}

/** The facts a caller shows about a model: which run, which weights, which threshold. */
export interface ModelInfo {
  runId: string;
  backbone: string;
  weights: WeightsProvenance;
  weightsNote: string;
  /** sha256 of the backbone's ONNX file. */
  weightsSha256: string;
  threshold: number;
  /** Sensitivity the threshold was chosen to reach on validation. */
  targetSensitivity: number;
  /** True when validation could not reach the target and 0.5 was used. */
  thresholdFallback: boolean;
  tensor: FeatureTensor;
}

/** Per-call options of an occlusion map. */
export type OcclusionCall = Pick<OcclusionOptions, 'roi' | 'onProgress' | 'signal'> & { limits?: Partial<LoadLimits> };

/** P(COVID) of a list of feature requests (possibly augmented), aligned with the requests. */
export interface RequestScores {
  /** NaN where `ok` is 0. */
  probs: Float64Array;
  ok: Uint8Array;
  sha256: string[];
  failures: ExtractResult['failures'];
}

/**
 * What every trained model offers, single-backbone or ensemble: the tasks, the server, screening
 * and PACS use only this.
 */
export interface CovidModel extends CamModel {
  readonly info: ModelInfo;
  /** The folder the model was loaded from (a run, or an ensemble of runs). */
  readonly dir: string;
  /** The runs behind the model: one, or an ensemble's members (their config, data and records). */
  readonly runs: readonly LoadedRun[];
  readonly threshold: number;
  readonly crop: [number, number];
  decide(probability: number): Decision;
  predict(inputs: readonly ImageInput[], opts?: BatchOptions): Promise<Prediction[]>;
  /** P(COVID) of requests (paths, bytes, augmented variants), through the feature cache. */
  scoreRequests(requests: readonly FeatureRequest[], opts?: FeatureOptions): Promise<RequestScores>;
  /** Crop-size CAMs of requests (null where a request failed). */
  camRequests(requests: readonly FeatureRequest[], opts?: FeatureOptions): Promise<(Heatmap | null)[]>;
  prepare(input: ImageInput, limits?: Partial<LoadLimits>): Promise<{ image: LoadedImage; crop: Uint8Array; tensor: Float32Array; sha256: string }>;
  analyse(input: ImageInput, opts?: AnalyseOptions): Promise<ImageAnalysis>;
  /** The class activation map of one image. */
  cam(input: ImageInput, limits?: Partial<LoadLimits>): Promise<CamResult>;
  /** The occlusion map of one image with the `explain` defaults, or the given settings. */
  occlusion(input: ImageInput, settings?: Partial<OcclusionSettings>, call?: OcclusionCall): Promise<OcclusionResult>;
  release(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A trained deep-covid model. Release it when done (or use `await using`). */
export class DeepCovidModel implements CovidModel {
  readonly info: ModelInfo;
  private released = false;
  private ownsBackbone = true;

  private constructor(
    /** The run folder's validated contents, or null for a model assembled from parts. */
    readonly run: LoadedRun | null,
    private readonly backbone: Backbone,
    readonly head: Head,
    readonly tensor: FeatureTensor,
    readonly threshold: number,
  ) {
    const rec = run?.record;
    this.info = Object.freeze({
      runId: rec?.id ?? '(not from a run)',
      backbone: backbone.name,
      weights: backbone.weights,
      weightsNote: rec?.backbone.note ?? backbone.located.provenance?.note ?? 'model file not in the registry',
      weightsSha256: backbone.modelSha256,
      threshold,
      targetSensitivity: rec?.threshold.targetSensitivity ?? NaN,
      thresholdFallback: rec?.threshold.fallback ?? false,
      tensor,
    });
  }

  /**
   * Loads a trained run: its validated record and head, and the backbone it was trained with (the
   * recorded file when it still exists, else the registry search). A backbone whose sha256 differs
   * from the recorded one is refused, because the head only fits that backbone's features.
   * @throws RunError for a missing, damaged, unfinished or reproduce folder, or a mismatched backbone.
   * @throws ModelNotFoundError when the backbone file cannot be found.
   * @example
   * await using model = await DeepCovidModel.load('runs/squeezenet1_1');
   * const [p] = await model.predict(['chest.png']);
   */
  static async load(runDir: string, opts: ModelLoadOptions = {}): Promise<DeepCovidModel> {
    const run = await readRunDir(runDir);
    const rec = run.record.backbone;
    const runtime = opts.runtime ?? {};
    const recorded = await access(rec.file).then(() => rec.file, () => undefined);
    const backbone = await Backbone.load(rec.name, { ...runtime, path: opts.modelPath ?? runtime.path ?? recorded });
    try {
      if (backbone.modelSha256 !== rec.sha256) {
        throw new RunError(`${backbone.located.path} (sha256 ${backbone.modelSha256.slice(0, 12)}…) is not the backbone run ${run.record.id} was trained with (sha256 ${rec.sha256.slice(0, 12)}…, ${rec.file}): give that file as the model path`);
      }
      const { spec, tensor } = await headSpecFor(backbone);
      if (spec.inChannels !== run.head.inChannels || spec.kind !== run.head.kind) {
        throw new RunError(`the run's head (${run.head.kind}, ${run.head.inChannels} channels) does not fit ${backbone.name}'s features (${spec.kind}, ${spec.inChannels} channels)`);
      }
      return new DeepCovidModel(run, backbone, run.head, tensor, run.record.threshold.value);
    } catch (err) {
      await backbone.release();
      throw err;
    }
  }

  /**
   * A model from a loaded backbone and a head (tests, benchmarks, heads trained elsewhere); the
   * head's kind decides the tensor it reads. By default the model owns the backbone and releases it.
   */
  static async fromParts(backbone: Backbone, head: Head, opts: { threshold?: number; releaseBackbone?: boolean } = {}): Promise<DeepCovidModel> {
    const threshold = opts.threshold ?? 0.5;
    const tensor = tensorForHead(head.kind);
    const shapes = await backbone.featureShapes();
    const channels = tensor === 'map' ? shapes.map?.[0] : shapes.pooledDim;
    if (channels !== head.inChannels) throw new RunError(`the head expects ${head.inChannels} feature channels but ${backbone.name} gives ${channels ?? 'no feature map'}`);
    if (!(threshold >= 0 && threshold <= 1)) throw new RunError(`threshold must be a number in [0, 1], got ${threshold}`);
    const model = new DeepCovidModel(null, backbone, head, tensor, threshold);
    model.ownsBackbone = opts.releaseBackbone !== false;
    return model;
  }

  get dir(): string {
    return this.run?.dir ?? '';
  }

  get runs(): readonly LoadedRun[] {
    return this.run ? [this.run] : [];
  }

  /** The preprocessing contract of the backbone. */
  get preprocess(): PreprocessConfig {
    return this.backbone.manifest.preprocess;
  }

  /** [height, width] of the crop the model sees. */
  get crop(): [number, number] {
    return this.backbone.manifest.preprocess.crop;
  }

  /** Whether CAMs can be made (the backbone exposes a feature map). */
  get hasFeatureMap(): boolean {
    return this.backbone.manifest.features.map !== null;
  }

  /** The decision at the operating threshold. */
  decide(probability: number): Decision {
    return probability >= this.threshold ? 'covid' : 'non';
  }

  /**
   * P(COVID) for each input at the run's operating threshold. Inputs are decoded, preprocessed and
   * run in batches (decoding overlaps inference); a bad input gets a failure entry naming it and
   * the problem, the others are still predicted. Results keep the input order.
   * @throws the signal's reason when aborted.
   */
  async predict(inputs: readonly ImageInput[], opts: BatchOptions = {}): Promise<Prediction[]> {
    const res = await this.features(inputs.map(toRequest), { ...opts, label: opts.label ?? 'predict' });
    const probs = this.probabilities(res.features!, res.ok);
    const failures = new Map(res.failures.map((f) => [f.file, f]));
    return inputs.map((input, i): Prediction => {
      const file = nameOf(input);
      if (!res.ok[i]) {
        const f = failures.get(file);
        return { file, error: f?.message ?? `${file}: could not be read`, ...(f?.problem ? { problem: f.problem } : {}) };
      }
      const p = probs[i];
      return { file, probability: p, label: this.decide(p), threshold: this.threshold, sha256: res.sha256[i] };
    });
  }

  /**
   * Backbone features of images (the head's input by default), cached when a cache is given.
   * Rows of failed requests are zero and `ok` is 0 there.
   */
  async features(requests: readonly FeatureRequest[], opts: FeatureOptions = {}): Promise<ExtractResult> {
    this.assertOpen();
    return extractFeatures(this.backbone, [...requests], {
      tensor: opts.tensor ?? this.tensor,
      batchSize: opts.batchSize,
      cache: opts.cache ?? null,
      augmenter: opts.augmenter,
      collect: opts.collect,
      limits: opts.limits,
      onProgress: opts.onProgress,
      signal: opts.signal,
      label: opts.label ?? `${this.backbone.name} features`,
    });
  }

  /**
   * The head applied to features of the head's tensor (n x dim, contiguous). With `ok`, rows whose
   * flag is 0 are skipped and get NaN.
   */
  probabilities(features: Float32Array, ok?: Uint8Array): Float64Array {
    if (!ok) return predictProba(this.head, features);
    const dim = this.headInputSize;
    const n = ok.length;
    const idx: number[] = [];
    for (let i = 0; i < n; i++) if (ok[i]) idx.push(i);
    const packed = new Float32Array(idx.length * dim);
    idx.forEach((src, dst) => packed.set(features.subarray(src * dim, (src + 1) * dim), dst * dim));
    const p = predictProba(this.head, packed);
    const out = new Float64Array(n).fill(NaN);
    idx.forEach((src, k) => (out[src] = p[k]));
    return out;
  }

  async scoreRequests(requests: readonly FeatureRequest[], opts: FeatureOptions = {}): Promise<RequestScores> {
    const res = await this.features(requests, { ...opts, tensor: undefined });
    return { probs: this.probabilities(res.features!, res.ok), ok: res.ok, sha256: res.sha256, failures: res.failures };
  }

  async camRequests(requests: readonly FeatureRequest[], opts: FeatureOptions = {}): Promise<(Heatmap | null)[]> {
    const res = await this.features(requests, { ...opts, tensor: 'map', label: opts.label ?? `${this.backbone.name} feature maps` });
    const [ch, cw] = this.crop;
    const out: (Heatmap | null)[] = [];
    for (let i = 0; i < requests.length; i++) out.push(res.ok[i] ? resizeBilinear(await this.camOfFeatureMaps(res.features!, i), cw, ch) : null);
    return out;
  }

  /** Floats per image of the head's input. */
  get headInputSize(): number {
    const spatial = this.head.kind === 'squeezenet-conv' && this.head.spatial ? this.head.spatial[0] * this.head.spatial[1] : 1;
    return this.head.inChannels * spatial;
  }

  /** P(COVID) of `n` preprocessed images (NCHW, concatenated in `input`). */
  async score(input: Float32Array, n: number): Promise<Float64Array> {
    this.assertOpen();
    const out = await this.backbone.run(input, n, this.tensor === 'pooled' ? { pooled: true } : { map: true });
    return predictProba(this.head, (this.tensor === 'pooled' ? out.pooled : out.map)!);
  }

  /** CAMs of `n` preprocessed images from one backbone pass, upsampled (bilinear) to the crop. */
  async camMaps(input: Float32Array, n: number): Promise<CamResult[]> {
    this.assertOpen();
    if (!this.hasFeatureMap) throw new RunError(`CAM: backbone ${this.backbone.name} exposes no feature map`);
    const out = await this.backbone.run(input, n, { map: true });
    const shape = (await this.backbone.featureShapes()).map!;
    const [ch, cw] = this.crop;
    const results: CamResult[] = [];
    for (let i = 0; i < n; i++) {
      const { cam, logitDiff } = camFromFeatureMap(this.head, out.map!, shape, i);
      results.push({ lowres: cam, map: resizeBilinear(cam, cw, ch), probability: 1 / (1 + Math.exp(-logitDiff)), logitDiff });
    }
    return results;
  }

  /** The CAM of row `k` of a batch of feature maps (from `features(…, { tensor: 'map' })`), at map resolution. */
  async camOfFeatureMaps(maps: Float32Array, k: number): Promise<Heatmap> {
    const shape = (await this.backbone.featureShapes()).map;
    if (!shape) throw new RunError(`CAM: backbone ${this.backbone.name} exposes no feature map`);
    return camFromFeatureMap(this.head, maps, shape, k).cam;
  }

  /** Decodes and preprocesses one image into the backbone's input tensor. */
  async prepare(input: ImageInput, limits?: Partial<LoadLimits>): Promise<{ image: LoadedImage; crop: Uint8Array; tensor: Float32Array; sha256: string }> {
    const src = await readSource(input);
    const image = await loadGreyImage(src, limits);
    const crop = await resizeAndCrop(image, this.preprocess);
    const tensor = new Float32Array(this.backbone.imageLength);
    greyToTensor(crop, this.preprocess, tensor);
    return { image, crop, tensor, sha256: sha256Hex(src.bytes) };
  }

  /**
   * One image in full: decoded, preprocessed, predicted, with its CAM (from the same backbone pass)
   * and, on request, an occlusion map.
   * @throws InputError naming the file when it cannot be read.
   */
  async analyse(input: ImageInput, opts: AnalyseOptions = {}): Promise<ImageAnalysis> {
    this.assertOpen();
    const t0 = performance.now();
    const src = await readSource(input);
    const image = opts.decodeOffThread ? await loadGreyImageOffThread(src, opts.limits, { signal: opts.signal }) : await loadGreyImage(src, opts.limits);
    const t1 = performance.now();
    const crop = await resizeAndCrop(image, this.preprocess);
    const tensor = new Float32Array(this.backbone.imageLength);
    greyToTensor(crop, this.preprocess, tensor);
    const t2 = performance.now();
    opts.signal?.throwIfAborted();
    let probability: number;
    let cam: CamResult | null = null;
    let tCam = 0;
    if (opts.cam !== false && this.hasFeatureMap) {
      // one pass gives the head's input and the CAM's feature map
      const out = await this.backbone.run(tensor, 1, { pooled: this.tensor === 'pooled', map: true });
      probability = predictProba(this.head, (this.tensor === 'pooled' ? out.pooled : out.map)!)[0];
      tCam = performance.now();
      const shape = (await this.backbone.featureShapes()).map!;
      const { cam: low, logitDiff } = camFromFeatureMap(this.head, out.map!, shape, 0);
      cam = { lowres: low, map: resizeBilinear(low, this.crop[1], this.crop[0]), probability, logitDiff };
      tCam = performance.now() - tCam;
    } else {
      probability = (await this.score(tensor, 1))[0];
    }
    const t3 = performance.now();
    let occlusion: Heatmap | null = null;
    if (opts.occlusion) {
      const explainer = new OcclusionSensitivity(opts.occlusion === true ? EXPLAINER_DEFAULTS.occlusionInteractive : opts.occlusion);
      occlusion = (await explainer.compute(this, tensor, { roi: opts.roi, onProgress: opts.onOcclusionProgress, signal: opts.signal })).map;
    }
    const t4 = performance.now();
    const sha256 = sha256Hex(src.bytes);
    return {
      file: nameOf(input), probability, label: this.decide(probability), threshold: this.threshold, sha256,
      image, crop, cam, occlusion,
      timings: { decodeMs: ms(t1 - t0), preprocessMs: ms(t2 - t1), inferenceMs: ms(t3 - t2 - tCam), camMs: cam ? ms(tCam) : null, occlusionMs: opts.occlusion ? ms(t4 - t3) : null },
    };
  }

  /** The CAM of one image (see `ClassActivationMap`). */
  async cam(input: ImageInput, limits?: Partial<LoadLimits>): Promise<CamResult> {
    const { tensor } = await this.prepare(input, limits);
    return new ClassActivationMap().compute(this, tensor);
  }

  /** The occlusion map of one image with the `explain` defaults, or the given settings. */
  async occlusion(input: ImageInput, settings: Partial<OcclusionSettings> = {}, call: OcclusionCall = {}): Promise<OcclusionResult> {
    const { tensor } = await this.prepare(input, call.limits);
    return new OcclusionSensitivity(settings).compute(this, tensor, call);
  }

  /** Frees the backbone's session. Calls after this throw. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.ownsBackbone) await this.backbone.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  private assertOpen(): void {
    if (this.released) throw new RunError(`model ${this.info.runId} was released: load it again`);
  }
}

function toRequest(input: ImageInput): FeatureRequest {
  return typeof input === 'string' ? { file: input } : { file: input.name, bytes: input.bytes };
}

function nameOf(input: ImageInput): string {
  return typeof input === 'string' ? input : input.name;
}

function ms(x: number): number {
  return Math.round(x * 10) / 10;
}
