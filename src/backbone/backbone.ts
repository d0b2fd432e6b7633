// ort-env first: it must switch onnxruntime's telemetry off before the native library starts
import { assertTelemetryOff } from './ort-env.js';
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { ModelError } from '../errors.js';
import { spatialMean } from './pool.js';
import { resolveManifest, type ModelManifest } from './manifest.js';
import { decodeModel, exposeOutputs, findFeatureTensors } from './graph.js';
import { locateModel, type LocateOptions, type LocatedModel } from './locate.js';
import type { WeightsProvenance } from './registry.js';
import { ThreadSession, type FeatureSession } from './thread-session.js';
import type { PreprocessConfig } from '../preprocess/config.js';

/** How to run a backbone. */
export interface BackboneOptions extends LocateOptions {
  /** Intra-op threads for onnxruntime (default: all cores). */
  threads?: number;
  /** 'cuda' tries the CUDA provider and falls back to CPU with a warning. */
  device?: 'cpu' | 'cuda';
  /** Where warnings go (the library never prints: without this, warnings are dropped). */
  warn?: (msg: string) => void;
  /**
   * Run the session on a worker thread of its own (see ThreadSession; default true): onnxruntime
   * runs a pass synchronously on the calling thread, which a server's event loop cannot afford,
   * and which would stop the decoding of the next batch during extraction (no overlap of decoding
   * with inference: SqueezeNet and MobileNetV2 then ran at about half their bare rate).
   */
  offThread?: boolean;
  /**
   * A preprocessing contract laid over the manifest's: a trained run's recorded contract (with its
   * robustness options), so that prediction preprocesses as training did.
   */
  preprocess?: Partial<PreprocessConfig>;
}

/** Features for a batch: pooled [n, C] and/or the feature map [n, C, H, W]. */
export interface FeatureBatch {
  pooled?: Float32Array;
  map?: Float32Array;
}

/** Shape facts learnt from the model on first use. */
export interface FeatureShapes {
  pooledDim: number;
  map: [number, number, number] | null;
}

/**
 * A frozen ImageNet backbone as a feature extractor: an onnxruntime session over the model's
 * graph with its pooled vector and last feature map exposed as outputs.
 */
export class Backbone {
  private shapes: FeatureShapes | null = null;

  private constructor(
    readonly name: string,
    readonly located: Omit<LocatedModel, 'bytes'>,
    readonly manifest: ModelManifest,
    private readonly session: FeatureSession,
    /** The execution provider actually used. */
    readonly device: 'cpu' | 'cuda',
  ) {}

  /** sha256 of the model file (part of every feature-cache key). */
  get modelSha256(): string {
    return this.located.sha256;
  }

  /** Whether the weights are real ImageNet weights, synthetic (structure only), or unknown. */
  get weights(): WeightsProvenance {
    return this.located.provenance?.weights ?? 'unknown';
  }

  /**
   * Loads a backbone by registry name (or any torchvision-style ONNX classifier with `path`).
   * The manifest comes from a JSON file beside the .onnx when present, else from the registry
   * and the graph's structure.
   */
  static async load(name: string, opts: BackboneOptions = {}): Promise<Backbone> {
    assertTelemetryOff();
    const { located, manifest: graphManifest, bytes } = await prepareBackboneGraph(name, opts);
    const manifest = opts.preprocess ? { ...graphManifest, preprocess: { ...graphManifest.preprocess, ...opts.preprocess } } : graphManifest;
    const warn = opts.warn ?? (() => {});
    for (const w of located.warnings ?? []) warn(w);
    const threads = opts.threads;
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      // no busy-waiting between operators: decoding runs on the same cores and needs them
      extra: { session: { intra_op: { allow_spinning: '0' } } },
      ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
    };
    const create = (options: ort.InferenceSession.SessionOptions): Promise<FeatureSession> =>
      opts.offThread !== false ? ThreadSession.create(bytes, options, ort.env.logLevel) : ort.InferenceSession.create(bytes, options);
    let session: FeatureSession;
    let device: 'cpu' | 'cuda' = 'cpu';
    if (opts.device === 'cuda') {
      try {
        // onnxruntime's process-wide logger prints its own raw error when the provider library is
        // missing; our warning below says it plainly, so only fatal messages may pass (failures still throw)
        ort.env.logLevel = 'fatal';
        session = await create({ ...base, executionProviders: ['cuda'], logSeverityLevel: 4 });
        device = 'cuda';
      } catch (err) {
        warn(`CUDA is not available (${(err as Error).message.split('\n')[0]}); running on the CPU instead`);
        session = await create({ ...base, executionProviders: ['cpu'] });
      }
    } else {
      try {
        session = await create({ ...base, executionProviders: ['cpu'] });
      } catch (err) {
        throw new ModelError(`onnxruntime cannot load ${located.path}: ${(err as Error).message}`, { cause: err });
      }
    }
    const { bytes: _dropped, ...rest } = located;
    return new Backbone(located.name, rest, manifest, session, device);
  }

  /**
   * This backbone with another preprocessing contract over the same session (a run's robustness
   * options). The returned object takes the session over: use and release it, not this one.
   */
  withPreprocess(preprocess: PreprocessConfig): Backbone {
    return new Backbone(this.name, this.located, { ...this.manifest, preprocess }, this.session, this.device);
  }

  /** Input tensor length for one image (3 x H x W). */
  get imageLength(): number {
    return 3 * this.manifest.preprocess.crop[0] * this.manifest.preprocess.crop[1];
  }

  /**
   * Runs `n` preprocessed images (NCHW, concatenated in `input`) and returns the requested
   * features. A pooled vector the graph lacks (SqueezeNet) is the spatial mean of the map.
   */
  async run(input: Float32Array, n: number, want: { pooled?: boolean; map?: boolean } = { pooled: true }): Promise<FeatureBatch> {
    return (await this.runLending(input, n, want, false)).features;
  }

  /**
   * As `run`, lending `input` to the pass instead of copying it where the session runs on a
   * thread of its own: `input` is unusable (detached) until the promise settles, and the returned
   * `input` is the same buffer to use from then on (also on a failure: `err.input`). On the
   * calling thread's session nothing moves and the same array comes back. What extraction uses
   * to hand 11.5 MiB batches over without copying them.
   */
  async lend(input: Float32Array, n: number, want: { pooled?: boolean; map?: boolean }): Promise<{ features: FeatureBatch; input: Float32Array }> {
    return this.runLending(input, n, want, true);
  }

  private async runLending(input: Float32Array, n: number, want: { pooled?: boolean; map?: boolean }, lend: boolean): Promise<{ features: FeatureBatch; input: Float32Array }> {
    const [h, w] = this.manifest.preprocess.crop;
    if (input.length < n * 3 * h * w) throw new ModelError(`internal: input holds ${input.length} floats, need ${n * 3 * h * w}`);
    const view = input.length === n * 3 * h * w ? input : input.subarray(0, n * 3 * h * w);
    const { pooled: pooledName, map: mapName } = this.manifest.features;
    const needMap = (want.map || (want.pooled && !pooledName)) && mapName;
    const fetches: string[] = [];
    if (want.pooled && pooledName) fetches.push(pooledName);
    if (needMap) fetches.push(mapName!);
    let out: Record<string, { data: unknown; dims: readonly number[] }>;
    let back = input;
    if (lend && this.session instanceof ThreadSession) {
      // the whole buffer moves, and comes back whole (the view only says how much to run); the
      // offset and length are read now, as the array reads 0 for both once its buffer has moved
      const { byteOffset, length } = input;
      try {
        const r = await this.session.runLent({ name: this.manifest.input, data: view, dims: [n, 3, h, w] }, fetches);
        out = r.outputs;
        back = new Float32Array(r.input.buffer, byteOffset, length);
      } catch (err) {
        const lent = (err as { input?: Float32Array }).input;
        if (lent) Object.assign(err as object, { input: new Float32Array(lent.buffer, byteOffset, length) });
        throw err;
      }
    } else {
      out = await this.session.run({ [this.manifest.input]: new ort.Tensor('float32', view, [n, 3, h, w]) }, fetches);
    }
    const result: FeatureBatch = {};
    let mapData: Float32Array | undefined;
    if (needMap) {
      const t = out[mapName!];
      mapData = t.data as Float32Array;
      const [, c, mh, mw] = t.dims.map(Number);
      this.shapes ??= { pooledDim: c, map: [c, mh, mw] };
      this.shapes.map ??= [c, mh, mw];
      if (want.map) result.map = mapData;
    }
    if (want.pooled) {
      if (pooledName) {
        const t = out[pooledName];
        result.pooled = t.data as Float32Array;
        const dim = Number(t.dims[1]);
        this.shapes ??= { pooledDim: dim, map: null };
        this.shapes.pooledDim = dim;
      } else {
        result.pooled = spatialMean(mapData!, n, this.shapes!.map!);
      }
    }
    return { features: result, input: back };
  }

  /** Feature shapes, learnt by running one blank image if not known yet. */
  async featureShapes(): Promise<FeatureShapes> {
    if (!this.shapes || (this.manifest.features.map && !this.shapes.map)) {
      await this.run(new Float32Array(this.imageLength), 1, { pooled: true, map: this.manifest.features.map !== null });
    }
    return this.shapes!;
  }

  /** Frees the onnxruntime session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

export { spatialMean };

/** A located backbone file, its manifest, and the graph with its feature tensors exposed as outputs. */
export interface PreparedGraph {
  located: LocatedModel;
  manifest: ModelManifest;
  /** The re-encoded ONNX model whose outputs include the feature tensors (what a session loads). */
  bytes: Uint8Array;
}

/**
 * Finds a backbone file, resolves its manifest (registry, graph, sidecar) and exposes its feature
 * tensors as graph outputs: what `Backbone.load` runs, and what export-web writes for the browser,
 * so that onnxruntime-web needs no graph surgery of its own.
 */
export async function prepareBackboneGraph(name: string, opts: LocateOptions = {}): Promise<PreparedGraph> {
  const located = await locateModel(name, opts);
  const model = decodeModel(located.bytes, located.path);
  const found = findFeatureTensors(model);
  const sidecar = await readSidecar(located.path);
  const manifest = resolveManifest({ architecture: located.name, spec: located.spec, graph: found, sidecar });
  const outputs = [manifest.features.pooled, manifest.features.map].filter((t): t is string => t !== null);
  return { located, manifest, bytes: exposeOutputs(model, outputs) };
}

async function readSidecar(modelPath: string): Promise<Partial<ModelManifest>> {
  const json = modelPath.replace(/\.onnx(\.gz)?$/, '.json');
  if (json === modelPath) return {};
  let text: string;
  try {
    text = await readFile(json, 'utf8');
  } catch {
    return {};
  }
  try {
    return JSON.parse(text) as Partial<ModelManifest>;
  } catch (err) {
    throw new ModelError(`model manifest ${json} is not valid JSON: ${(err as Error).message}`);
  }
}
