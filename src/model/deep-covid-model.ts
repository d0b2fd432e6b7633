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
import { InputError, RunError, type InputProblem } from '../errors.js';
import type { FeatureCache } from '../features/cache.js';
import { extractFeatures, type Augmenter, type ExtractOptions, type ExtractResult, type FeatureRequest } from '../features/extract.js';
import { headSpecFor, predictProba, type Head } from '../head/index.js';
import type { LoadedImage } from '../input/grey-image.js';
import { decodeProbed, probeImage, readSource, type ImageSource, type LoadLimits, type ProbedImage } from '../input/load-image.js';
import { decodeAndHashOffThread } from '../input/decode-pool.js';
import type { PreprocessConfig } from '../preprocess/config.js';
import { cropDecoded, greyToTensor } from '../preprocess/to-tensor.js';
import { readRunDir, readRunJson, RUN_FILES, type LoadedRun } from '../protocol/run-folder.js';
import { assessScore, combineGate, gateFromJSON, inspectImage, pooledRows, scoreFeatures, type GateModel, type GateParts, type GateResult, type GateSettings } from '../gate/index.js';
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

/** A prediction for one input the gate let through (passed, or warned: the warning comes first). */
export interface PredictionResult {
  file: string;
  /** P(COVID) from the head's softmax. */
  probability: number;
  /** `covid` when probability ≥ threshold. */
  label: Decision;
  threshold: number;
  /** sha256 of the input's bytes. */
  sha256: string;
  /** The input gate's verdict and reasons. */
  gate: GateResult;
}

/** An input the gate refused: no P(COVID) at all, only the reasons. */
export interface PredictionRefused {
  file: string;
  sha256: string;
  refused: true;
  gate: GateResult;
}

/** Why one input could not be predicted. */
export interface PredictionFailure {
  file: string;
  error: string;
  /** The kind of input problem, when the input (not the system) was at fault. */
  problem?: InputProblem;
}

/** A prediction, a refusal, or the reason there is none; batch calls never throw for one bad input. */
export type Prediction = PredictionResult | PredictionRefused | PredictionFailure;

/** True when the gate refused the input. */
export function isRefused(p: Prediction): p is PredictionRefused {
  return 'refused' in p;
}

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
  /**
   * false: the input gate refuses nothing (researchers' choice); every result is stamped with
   * that, and says what would have been refused. Default true.
   */
  gate?: boolean;
  /** Overrides of the gate's settings (accepted modalities, minimum size, …). */
  gateSettings?: Partial<GateSettings>;
  /** Told once when the feature cache cannot be written (the work goes on without caching). */
  warn?: (message: string) => void;
}

/** Options of `features`. */
export interface FeatureOptions extends BatchOptions {
  /** Which tensor (default: the one the head reads). */
  tensor?: FeatureTensor;
  augmenter?: Augmenter;
  /** false: fill the cache only. */
  collect?: boolean;
  /** Sees each file's probe and decoded image as the extraction reads them (see `ExtractOptions.inspect`). */
  inspect?: ExtractOptions['inspect'];
}

/**
 * Everything about one image: what the model saw, the gate's verdict, and (unless the gate
 * refused it) its prediction and the requested maps.
 */
export interface ImageAnalysis {
  file: string;
  sha256: string;
  gate: GateResult;
  /** Null when the gate refused the image. */
  probability: number | null;
  label: Decision | null;
  threshold: number;
  /** The decoded image (8-bit grey, display orientation). */
  image: LoadedImage;
  /** The grey crop the model saw (crop height x width). */
  crop: Uint8Array;
  /** Class activation map at crop size, when asked for, the backbone has a feature map, and the gate let the image through. */
  cam: CamResult | null;
  /** Occlusion map at crop size, when asked for (and the gate let the image through). */
  occlusion: Heatmap | null;
  timings: { decodeMs: number; preprocessMs: number; inferenceMs: number; camMs: number | null; occlusionMs: number | null };
}

/** Options of `analyse`. */
export interface AnalyseOptions {
  cam?: boolean;
  /** false: the gate refuses nothing (see BatchOptions.gate). */
  gate?: boolean;
  gateSettings?: Partial<GateSettings>;
  /** true = the interactive defaults; or settings of the occlusion map. */
  occlusion?: boolean | Partial<OcclusionSettings>;
  limits?: Partial<LoadLimits>;
  signal?: AbortSignal;
  /** Decode (and hash) on a worker thread (decodeAndHashOffThread), so the caller's event loop stays free: what a server wants. */
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
    /** The input gate's density model from the run's gate.json (null: the run has none). */
    readonly gate: GateModel | null = null,
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
    // the run's recorded contract, robustness options included: prediction preprocesses as training did
    const backbone = await Backbone.load(rec.name, { ...runtime, path: opts.modelPath ?? runtime.path ?? recorded, preprocess: rec.manifest.preprocess });
    try {
      if (backbone.modelSha256 !== rec.sha256) {
        throw new RunError(`${backbone.located.path} (sha256 ${backbone.modelSha256.slice(0, 12)}…) is not the backbone run ${run.record.id} was trained with (sha256 ${rec.sha256.slice(0, 12)}…, ${rec.file}): give that file as the model path`);
      }
      const { spec, tensor } = await headSpecFor(backbone);
      if (spec.inChannels !== run.head.inChannels || spec.kind !== run.head.kind) {
        throw new RunError(`the run's head (${run.head.kind}, ${run.head.inChannels} channels) does not fit ${backbone.name}'s features (${spec.kind}, ${spec.inChannels} channels)`);
      }
      const gateJson = await readRunJson<unknown>(run, RUN_FILES.gate);
      const gate = gateJson === null ? null : gateFromJSON(gateJson, `${run.dir}/${RUN_FILES.gate}`);
      if (gate && gate.backboneSha256 !== backbone.modelSha256) throw new RunError(`${run.dir}/${RUN_FILES.gate} was fitted on another backbone's features than ${backbone.located.path}`);
      return new DeepCovidModel(run, backbone, run.head, tensor, run.record.threshold.value, gate);
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
    // the gate's header and image checks run on what the extraction read and decoded, so each
    // file is read once and (for DICOM and small grey PNGs) decoded once
    const checks: Array<Awaited<ReturnType<typeof inspectImage>> | { error: unknown } | undefined> = new Array(inputs.length);
    const inspect = async (i: number, probe: ProbedImage, image: LoadedImage | null): Promise<void> => {
      try {
        checks[i] = await inspectImage(probe, image ?? undefined, opts.gateSettings);
      } catch (err) {
        checks[i] = { error: err };
      }
    };
    const res = await this.features(inputs.map(toRequest), { ...opts, label: opts.label ?? 'predict', inspect });
    const probs = this.probabilities(res.features!, res.ok);
    const scores = await this.oodScores(res.features!, res.ok);
    const failures = new Map(res.failures.map((f) => [f.file, f]));
    const out: Prediction[] = new Array<Prediction>(inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i];
      const file = nameOf(input);
      if (!res.ok[i]) {
        const f = failures.get(file);
        out[i] = { file, error: f?.message ?? `${file}: could not be read`, ...(f?.problem ? { problem: f.problem } : {}) };
        continue;
      }
      let check = checks[i];
      // (every row with features was inspected; this only guards the contract)
      check ??= await probeImage(input, opts.limits).then((probe) => inspectImage(probe, undefined, opts.gateSettings), (error: unknown) => ({ error }));
      if ('error' in check) {
        const err = check.error;
        out[i] = { file, error: err instanceof Error ? err.message : String(err), ...(err instanceof InputError ? { problem: err.problem } : {}) };
        continue;
      }
      const gate = this.combine(check, scores ? scores[i] : null, opts);
      if (gate.verdict === 'refused') {
        out[i] = { file, sha256: res.sha256[i], refused: true, gate };
        continue;
      }
      const p = probs[i];
      out[i] = { file, probability: p, label: this.decide(p), threshold: this.threshold, sha256: res.sha256[i], gate };
    }
    return out;
  }

  /** The gate's distance of each row of head-input features from the training images (null without a gate). */
  private async oodScores(features: Float32Array, ok: Uint8Array): Promise<Float64Array | null> {
    if (!this.gate) return null;
    const rows: number[] = [];
    for (let i = 0; i < ok.length; i++) if (ok[i]) rows.push(i);
    const mapShape = this.tensor === 'map' ? (await this.backbone.featureShapes()).map : null;
    const pooled = pooledRows(features, this.headInputSize, rows, mapShape);
    const s = scoreFeatures(this.gate, pooled.data, pooled.n);
    const out = new Float64Array(ok.length).fill(NaN);
    rows.forEach((r, k) => (out[r] = s[k]));
    return out;
  }

  /** The gate's verdict on one probed input (and its decoded image, when the caller has it). */
  private async assess(probe: ProbedImage, decoded: LoadedImage | undefined, score: number | null, opts: { gate?: boolean; gateSettings?: Partial<GateSettings> }): Promise<GateResult> {
    return this.combine(await inspectImage(probe, decoded, opts.gateSettings), score, opts);
  }

  /** The gate's verdict from the header and image checks and the density score. */
  private combine(checks: Pick<GateParts, 'header' | 'image'>, score: number | null, opts: { gate?: boolean }): GateResult {
    const ood = this.gate && score !== null && Number.isFinite(score) ? assessScore(this.gate, score, checks.image?.facts.symmetry) : null;
    return combineGate({ ...checks, ood }, { disabled: opts.gate === false, noOodModel: !this.gate });
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
      warn: opts.warn,
      inspect: opts.inspect,
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
    const image = await decodeProbed(await probeImage(src, limits));
    const crop = await cropDecoded(image, src.bytes, this.preprocess);
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
    const probe = await probeImage(src, opts.limits);
    // off the thread, the bytes are hashed where they are decoded (hashing 50 MiB takes a while)
    const { image, sha256: hashed } = opts.decodeOffThread ? await decodeAndHashOffThread(src, opts.limits, { signal: opts.signal }) : { image: await decodeProbed(probe), sha256: undefined };
    const t1 = performance.now();
    const crop = await cropDecoded(image, src.bytes, this.preprocess);
    const tensor = new Float32Array(this.backbone.imageLength);
    greyToTensor(crop, this.preprocess, tensor);
    const t2 = performance.now();
    opts.signal?.throwIfAborted();
    // one pass gives the head's input, the gate's pooled vector and the CAM's feature map
    const wantCam = opts.cam !== false && this.hasFeatureMap;
    const out = await this.backbone.run(tensor, 1, { pooled: true, map: wantCam || this.tensor === 'map' });
    const probability = predictProba(this.head, (this.tensor === 'pooled' ? out.pooled : out.map)!)[0];
    const score = this.gate ? scoreFeatures(this.gate, out.pooled!, 1)[0] : null;
    const t3 = performance.now();
    const gate = await this.assess(probe, image, score, opts);
    const sha256 = hashed ?? sha256Hex(src.bytes);
    const base = { file: nameOf(input), sha256, gate, threshold: this.threshold, image, crop };
    if (gate.verdict === 'refused') {
      return { ...base, probability: null, label: null, cam: null, occlusion: null, timings: { decodeMs: ms(t1 - t0), preprocessMs: ms(t2 - t1), inferenceMs: ms(t3 - t2), camMs: null, occlusionMs: null } };
    }
    let cam: CamResult | null = null;
    const t4 = performance.now();
    if (wantCam) {
      const shape = (await this.backbone.featureShapes()).map!;
      const { cam: low, logitDiff } = camFromFeatureMap(this.head, out.map!, shape, 0);
      cam = { lowres: low, map: resizeBilinear(low, this.crop[1], this.crop[0]), probability, logitDiff };
    }
    const t5 = performance.now();
    let occlusion: Heatmap | null = null;
    if (opts.occlusion) {
      const explainer = new OcclusionSensitivity(opts.occlusion === true ? EXPLAINER_DEFAULTS.occlusionInteractive : opts.occlusion);
      occlusion = (await explainer.compute(this, tensor, { roi: opts.roi, onProgress: opts.onOcclusionProgress, signal: opts.signal })).map;
    }
    const t6 = performance.now();
    return {
      ...base, probability, label: this.decide(probability), cam, occlusion,
      timings: { decodeMs: ms(t1 - t0), preprocessMs: ms(t2 - t1), inferenceMs: ms(t3 - t2), camMs: cam ? ms(t5 - t4) : null, occlusionMs: opts.occlusion ? ms(t6 - t5) : null },
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
