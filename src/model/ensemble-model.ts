/**
 * An ensemble of trained runs as one model: every member predicts, the probabilities are averaged
 * the way validation chose (probabilities or log-odds), and the ensemble's own threshold (chosen
 * on validation) decides. Maps are the members' maps, upsampled to the shared crop and averaged;
 * per-member maps are available through `members`.
 */
import { RunError } from '../errors.js';
import type { FeatureRequest } from '../features/extract.js';
import type { LoadLimits } from '../input/load-image.js';
import type { PreprocessConfig } from '../preprocess/config.js';
import { greyToTensor } from '../preprocess/to-tensor.js';
import type { CamResult } from '../explain/cam.js';
import { EXPLAINER_DEFAULTS, OcclusionSensitivity, type OcclusionSettings } from '../explain/explainers.js';
import type { OcclusionResult } from '../explain/occlusion.js';
import type { Heatmap } from '../explain/heatmap.js';
import { combineProbabilities, readEnsembleDir, type Combine, type LoadedEnsemble } from '../protocol/ensemble.js';
import type { LoadedRun } from '../protocol/run-folder.js';
import {
  DeepCovidModel, isRefused, type PredictionResult,
  type AnalyseOptions, type BatchOptions, type CovidModel, type Decision, type FeatureOptions, type ImageAnalysis, type ImageInput,
  type ModelInfo, type ModelLoadOptions, type OcclusionCall, type Prediction, type RequestScores,
} from './deep-covid-model.js';

/** Several trained runs combined into one model. */
export class EnsembleModel implements CovidModel {
  readonly info: ModelInfo;
  readonly run: LoadedRun | null = null;

  private constructor(
    readonly ensemble: LoadedEnsemble,
    readonly members: readonly DeepCovidModel[],
  ) {
    const rec = ensemble.record;
    this.info = Object.freeze({
      runId: rec.id,
      backbone: `ensemble(${members.map((m) => m.info.backbone).join('+')})`,
      weights: members.every((m) => m.info.weights === 'imagenet') ? 'imagenet' : members.some((m) => m.info.weights === 'synthetic') ? 'synthetic' : 'unknown',
      weightsNote: `mean of ${rec.combine === 'logit' ? 'log-odds' : 'probabilities'} of ${members.map((m) => `${m.info.backbone} (${m.info.weightsNote})`).join('; ')}`,
      weightsSha256: members.map((m) => m.info.weightsSha256).join('+'),
      threshold: rec.threshold.value,
      targetSensitivity: rec.threshold.targetSensitivity,
      thresholdFallback: rec.threshold.fallback,
      tensor: members[0].tensor,
    });
  }

  /** Loads an ensemble folder and every member's model. */
  static async load(dir: string, opts: ModelLoadOptions = {}): Promise<EnsembleModel> {
    const ens = await readEnsembleDir(dir);
    const members: DeepCovidModel[] = [];
    try {
      for (const run of ens.members) members.push(await DeepCovidModel.load(run.dir, { runtime: opts.runtime }));
    } catch (err) {
      await Promise.all(members.map((m) => m.release()));
      throw err;
    }
    return new EnsembleModel(ens, members);
  }

  get dir(): string {
    return this.ensemble.dir;
  }

  get runs(): readonly LoadedRun[] {
    return this.ensemble.members;
  }

  get combine(): Combine {
    return this.ensemble.record.combine;
  }

  get threshold(): number {
    return this.ensemble.record.threshold.value;
  }

  get preprocess(): PreprocessConfig {
    return this.members[0].preprocess;
  }

  get crop(): [number, number] {
    return this.members[0].crop;
  }

  decide(probability: number): Decision {
    return probability >= this.threshold ? 'covid' : 'non';
  }

  private mean(values: readonly ArrayLike<number>[]): Float64Array {
    return combineProbabilities(values, this.combine);
  }

  async predict(inputs: readonly ImageInput[], opts: BatchOptions = {}): Promise<Prediction[]> {
    const per: Prediction[][] = [];
    for (const m of this.members) per.push(await m.predict(inputs, { ...opts, label: `${opts.label ?? 'predict'} (${m.info.backbone})` }));
    const rank = { refused: 0, warned: 1, passed: 2 } as const;
    return inputs.map((_, i): Prediction => {
      // a failure or a refusal by any member stands for the ensemble
      const failed = per.find((p) => 'error' in p[i]);
      if (failed) return failed[i];
      const refused = per.find((p) => isRefused(p[i]));
      if (refused) return refused[i];
      const results = per.map((q) => q[i] as PredictionResult);
      const gate = results.map((r) => r.gate).sort((a, b) => rank[a.verdict] - rank[b.verdict])[0];
      const p = this.mean(results.map((r) => [r.probability]))[0];
      return { file: results[0].file, probability: p, label: this.decide(p), threshold: this.threshold, sha256: results[0].sha256, gate };
    });
  }

  async scoreRequests(requests: readonly FeatureRequest[], opts: FeatureOptions = {}): Promise<RequestScores> {
    const per: RequestScores[] = [];
    for (const m of this.members) per.push(await m.scoreRequests(requests, { ...opts, label: opts.label ? `${opts.label} (${m.info.backbone})` : undefined }));
    const n = requests.length;
    const ok = new Uint8Array(n);
    for (let i = 0; i < n; i++) ok[i] = per.every((p) => p.ok[i]) ? 1 : 0;
    const combined = this.mean(per.map((p) => p.probs));
    for (let i = 0; i < n; i++) if (!ok[i]) combined[i] = NaN;
    const failures = [...new Map(per.flatMap((p) => p.failures).map((f) => [`${f.file}#${f.variant}`, f])).values()];
    return { probs: combined, ok, sha256: per[0].sha256, failures };
  }

  async camRequests(requests: readonly FeatureRequest[], opts: FeatureOptions = {}): Promise<(Heatmap | null)[]> {
    const per: (Heatmap | null)[][] = [];
    for (const m of this.members) per.push(await m.camRequests(requests, opts));
    return requests.map((_, i) => averageMaps(per.map((p) => p[i])));
  }

  async score(input: Float32Array, n: number): Promise<Float64Array> {
    const per: Float64Array[] = [];
    for (const m of this.members) per.push(await m.score(input, n));
    return this.mean(per);
  }

  async camMaps(input: Float32Array, n: number): Promise<CamResult[]> {
    const per: CamResult[][] = [];
    for (const m of this.members) per.push(await m.camMaps(input, n));
    // each member's CAM comes with its probability from the same pass: no second pass to score
    const probs = this.mean(per.map((q) => q.map((c) => c.probability)));
    return [...probs].map((p, i) => {
      const map = averageMaps(per.map((q) => q[i].map))!;
      // members' feature maps may differ in size (13 x 13, 7 x 7): the crop-size mean stands for them
      const cells = per.reduce((s, q) => s + q[i].lowres.width * q[i].lowres.height, 0) / per.length;
      return { map, lowres: map, probability: p, logitDiff: Math.log(p / (1 - p)), cells };
    });
  }

  prepare(input: ImageInput, limits?: Partial<LoadLimits>) {
    return this.members[0].prepare(input, limits);
  }

  async analyse(input: ImageInput, opts: AnalyseOptions = {}): Promise<ImageAnalysis> {
    const t0 = performance.now();
    // the first member's look at the image gives the gate's verdict (header, pixels, its OOD score)
    const first = await this.members[0].analyse(input, { cam: false, gate: opts.gate, gateSettings: opts.gateSettings, limits: opts.limits, signal: opts.signal, decodeOffThread: opts.decodeOffThread });
    if (first.probability === null) return { ...first, threshold: this.threshold };
    const { image, crop, sha256, gate } = first;
    // the members share the preprocessing: the first member's crop is every member's input (no second decode)
    const tensor = new Float32Array(3 * crop.length);
    greyToTensor(crop, this.preprocess, tensor);
    const t1 = performance.now();
    opts.signal?.throwIfAborted();
    let cam: CamResult | null = null;
    let probability: number;
    if (opts.cam !== false && this.members.every((m) => m.hasFeatureMap)) {
      cam = (await this.camMaps(tensor, 1))[0];
      probability = cam.probability;
    } else {
      probability = (await this.score(tensor, 1))[0];
    }
    const t2 = performance.now();
    let occlusion: Heatmap | null = null;
    if (opts.occlusion) {
      const explainer = new OcclusionSensitivity(opts.occlusion === true ? EXPLAINER_DEFAULTS.occlusionInteractive : opts.occlusion);
      occlusion = (await explainer.compute(this, tensor, { roi: opts.roi, onProgress: opts.onOcclusionProgress, signal: opts.signal })).map;
    }
    const t3 = performance.now();
    const ms = (x: number) => Math.round(x * 10) / 10;
    return {
      file: typeof input === 'string' ? input : input.name, probability, label: this.decide(probability), threshold: this.threshold, sha256, gate,
      image, crop, cam, occlusion,
      timings: { decodeMs: ms(t1 - t0), preprocessMs: 0, inferenceMs: ms(t2 - t1), camMs: null, occlusionMs: opts.occlusion ? ms(t3 - t2) : null },
    };
  }

  async cam(input: ImageInput, limits?: Partial<LoadLimits>): Promise<CamResult> {
    const { tensor } = await this.prepare(input, limits);
    return (await this.camMaps(tensor, 1))[0];
  }

  async occlusion(input: ImageInput, settings: Partial<OcclusionSettings> = {}, call: OcclusionCall = {}): Promise<OcclusionResult> {
    const { tensor } = await this.prepare(input, call.limits);
    return new OcclusionSensitivity(settings).compute(this, tensor, call);
  }

  async release(): Promise<void> {
    await Promise.all(this.members.map((m) => m.release()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

/** Pixel-wise mean of same-size maps (null when any is missing). */
function averageMaps(maps: (Heatmap | null)[]): Heatmap | null {
  if (maps.some((m) => m === null)) return null;
  const ms = maps as Heatmap[];
  const { width, height } = ms[0];
  if (ms.some((m) => m.width !== width || m.height !== height)) throw new RunError('ensemble members produced maps of different sizes');
  const data = new Float32Array(width * height);
  for (const m of ms) for (let i = 0; i < data.length; i++) data[i] += m.data[i] / ms.length;
  return { width, height, data };
}
