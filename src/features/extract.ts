import { InputError, ModelError, type InputProblem } from '../errors.js';
import type { Backbone, FeatureBatch } from '../backbone/backbone.js';
import type { GreyImage, LoadedImage } from '../input/grey-image.js';
import { decodeProbed, probeImage, readSource, type LoadLimits, type ProbedImage } from '../input/load-image.js';
import { preprocessKey } from '../preprocess/config.js';
import { cropProbed, greyToTensor, preprocessIdentity, resizeAndCrop } from '../preprocess/to-tensor.js';
import { sha256Hex } from '../util/hash.js';
import { createProgress, type ProgressListener } from '../util/progress.js';
import { allFinite, type FeatureCache, type FeatureKeyParts } from './cache.js';

/** One image to turn into features; variant > 0 asks for an augmented copy. */
export interface FeatureRequest {
  /** A path, or the display name of `bytes`. */
  file: string;
  /** The file's content, when it is already in memory (uploads, PACS); `file` is then only a name. */
  bytes?: Uint8Array;
  variant?: number;
}

/** Makes augmented copies (variant 1, 2, …) of an image, deterministically. */
export interface Augmenter {
  /** Identity of the augmentation (parameters and seed): part of the cache key. */
  readonly key: string;
  apply(img: GreyImage, variant: number, imageSha256: string): Promise<GreyImage> | GreyImage;
}

/** Options of a feature extraction. */
export interface ExtractOptions {
  /** 'pooled' vectors for linear heads, 'map' for the SqueezeNet head and CAM. */
  tensor: 'pooled' | 'map';
  /** Images per forward pass (default 20, the paper's batch). */
  batchSize?: number;
  cache?: FeatureCache | null;
  augmenter?: Augmenter;
  /** Keep the features in memory and return them (default true; false only fills the cache). */
  collect?: boolean;
  limits?: Partial<LoadLimits>;
  /** Stops the work between batches (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
  /**
   * Called once for each request whose file could be read and probed (variant 0 only), with the
   * probe and, when the file was decoded whole here, the decoded image: what a caller needs to
   * look at the file further (the input gate) without reading or decoding it again. Cached
   * entries are probed for it (header only). The extraction awaits it; it should not throw.
   */
  inspect?: (index: number, probe: ProbedImage, image: LoadedImage | null) => Promise<void> | void;
  /** Progress label. */
  label?: string;
  /** Receives progress events (the library never prints). */
  onProgress?: ProgressListener;
  /**
   * Told (once per extraction) when the cache cannot be written, e.g. a read-only folder: the
   * extraction goes on without caching. The library prints nothing itself.
   */
  warn?: (message: string) => void;
}

/** A failed request: which file and why. */
export interface ExtractFailure {
  file: string;
  variant: number;
  message: string;
  /** The input problem, when the file (not the system) was at fault. */
  problem?: InputProblem;
}

/** Features for every request, in request order. */
export interface ExtractResult {
  /** Floats per image. */
  dim: number;
  /** Per-image shape: [C] or [C, H, W]. */
  shape: number[];
  /** n x dim, or null when not collected. Rows of failed requests are zero. */
  features: Float32Array | null;
  /** 1 where the row holds valid features. */
  ok: Uint8Array;
  /** sha256 of each request's file content ('' where it could not be read): data provenance for runs. */
  sha256: string[];
  failures: ExtractFailure[];
  stats: { total: number; fromCache: number; computed: number; failed: number; seconds: number; imagesPerSecond: number };
}

interface Prepared {
  index: number;
  key: string | null;
  /** Set when the cache had it. */
  cached?: Float32Array;
}

/**
 * The cache key parts of one request (everything besides the image that decides its features):
 * the backbone file, its preprocessing, the tensor, and for a variant > 0 the augmentation.
 */
export function featureKeyParts(backbone: Backbone, tensor: 'pooled' | 'map', augmenter: Augmenter | undefined, variant: number, bytes: Uint8Array): FeatureKeyParts {
  const cfg = backbone.manifest.preprocess;
  return {
    modelSha256: backbone.modelSha256, modelName: backbone.name,
    // an original may take the JavaScript resampler (keyed apart); augmented copies do not
    preprocess: variant > 0 ? preprocessKey(cfg) : preprocessIdentity(bytes, cfg), tensor,
    augment: variant > 0 ? `${augmenter?.key ?? 'none'}#${variant}` : '',
  };
}

/** The per-image shape of a tensor ([C] or [C, H, W]) and its length; an error when the backbone lacks it. */
export async function featureShape(backbone: Backbone, tensor: 'pooled' | 'map'): Promise<{ shape: number[]; dim: number }> {
  const shapes = await backbone.featureShapes();
  const shape = tensor === 'pooled' ? [shapes.pooledDim] : shapes.map ? [...shapes.map] : null;
  if (!shape) throw new InputError(backbone.name, 'unsupported', `backbone ${backbone.name} exposes no feature map`);
  return { shape, dim: shape.reduce((a, b) => a * b, 1) };
}

/**
 * Extracts backbone features for a list of images, streaming: while one batch runs through the
 * backbone (on its own thread, see Backbone.load), the next batch is read, decoded and
 * preprocessed on this one, so decoding overlaps with inference and only two batches of images
 * are in memory at once. Cached entries are reused; bad files are reported and skipped, never fatal.
 */
export async function extractFeatures(backbone: Backbone, requests: FeatureRequest[], opts: ExtractOptions): Promise<ExtractResult> {
  const t0 = performance.now();
  const batchSize = Math.max(1, opts.batchSize ?? 20);
  const { shape, dim } = await featureShape(backbone, opts.tensor);
  const n = requests.length;
  const collect = opts.collect !== false;
  const features = collect ? new Float32Array(n * dim) : null;
  const ok = new Uint8Array(n);
  const hashes: string[] = new Array<string>(n).fill('');
  const failures: ExtractFailure[] = [];
  const cfg = backbone.manifest.preprocess;
  const imageLen = backbone.imageLength;
  const buffers: Float32Array[] = [new Float32Array(batchSize * imageLen), new Float32Array(batchSize * imageLen)];
  const progress = createProgress({ label: opts.label ?? `features ${backbone.name}`, total: n, onProgress: opts.onProgress });
  let fromCache = 0;
  let computed = 0;
  // set to null after the first failed write: the cache is then only read
  let writeCache = opts.cache ?? null;
  const put = async (key: string, row: Float32Array): Promise<void> => {
    if (writeCache === null) return;
    try {
      await writeCache.put(key, row, shape);
    } catch (err) {
      if (writeCache === null) return;
      writeCache = null;
      const why = err instanceof Error ? err.message : String(err);
      opts.warn?.(`the feature cache ${opts.cache!.dir} cannot be written (${why}); going on without caching new features`);
    }
  };

  const prepareChunk = async (start: number, buffer: Float32Array): Promise<Prepared[]> => {
    const end = Math.min(n, start + batchSize);
    const probes = new Map<string, Promise<ProbedImage>>();
    const decoded = new Map<string, Promise<GreyImage>>();
    const jobs: Promise<Prepared | null>[] = [];
    let slot = 0;
    const slots: number[] = [];
    for (let i = start; i < end; i++) slots.push(i);
    // slots are assigned after cache lookups, so misses pack densely into the batch buffer
    const lookups = await Promise.all(slots.map(async (i) => {
      const req = requests[i];
      const variant = req.variant ?? 0;
      try {
        const { bytes } = await readSource(req.bytes ? { bytes: req.bytes, name: req.file } : req.file);
        const sha = sha256Hex(bytes);
        hashes[i] = sha;
        const key = opts.cache ? opts.cache.key(sha, featureKeyParts(backbone, opts.tensor, opts.augmenter, variant, bytes)) : null;
        const cached = key && opts.cache ? await opts.cache.get(key, dim) : null;
        return { i, bytes, sha, key, cached, variant };
      } catch (err) {
        fail(i, err);
        return null;
      }
    }));
    for (const l of lookups) {
      if (!l) continue;
      if (l.cached) {
        const hit = { index: l.i, key: l.key, cached: l.cached };
        const inspect = opts.inspect;
        jobs.push(inspect && l.variant === 0
          ? probeImage({ bytes: l.bytes, name: requests[l.i].file }, opts.limits).then((pr) => inspect(l.i, pr, null)).then(() => hit, (err: unknown) => (fail(l.i, err), null))
          : Promise.resolve(hit));
        continue;
      }
      const mySlot = slot++;
      const file = requests[l.i].file;
      // one probe per file, and one full decode per file only when augmented variants need it
      let probe = probes.get(file);
      if (!probe) {
        probe = probeImage({ bytes: l.bytes, name: file }, opts.limits);
        probes.set(file, probe);
      }
      const pr = probe;
      jobs.push((async () => {
        try {
          let pixels: Uint8Array;
          if (l.variant === 0) {
            const cropped = await cropProbed(await pr, cfg);
            pixels = cropped.pixels;
            await opts.inspect?.(l.i, await pr, cropped.image);
          } else {
            if (!opts.augmenter) throw new InputError(file, 'unsupported', `variant ${l.variant} requested but no augmenter given`);
            let dec = decoded.get(file);
            if (!dec) {
              dec = pr.then(decodeProbed);
              decoded.set(file, dec);
            }
            pixels = await resizeAndCrop(await opts.augmenter.apply(await dec, l.variant, l.sha), cfg);
          }
          greyToTensor(pixels, cfg, buffer, mySlot * imageLen);
          return { index: l.i, key: l.key, slot: mySlot } as Prepared & { slot: number };
        } catch (err) {
          fail(l.i, err);
          return null;
        }
      })());
    }
    return (await Promise.all(jobs)).filter((p): p is Prepared => p !== null);
  };

  function fail(i: number, err: unknown) {
    const req = requests[i];
    failures.push({ file: req.file, variant: req.variant ?? 0, message: err instanceof Error ? err.message : String(err), ...(err instanceof InputError ? { problem: err.problem } : {}) });
    progress.tick();
  }

  // cache writes of a batch go on while the next batches are decoded and run; at most two batches'
  // writes are in flight, and all are awaited before returning
  let writing: Promise<void>[] = [];
  let written: Promise<void> = Promise.resolve();
  const want = opts.tensor === 'pooled' ? { pooled: true } : { map: true };
  type Misses = (Prepared & { slot: number })[];
  interface Ran { prepared: Prepared[]; misses: Misses; out: FeatureBatch | null }
  // runs a prepared batch: its misses are in buffers[b], which is lent (not copied) to a backbone
  // on its own thread and comes back with the answer; nothing starts once the signal has aborted
  const runBatch = async (prepared: Prepared[], b: number): Promise<Ran> => {
    const misses = prepared.filter((p) => !p.cached) as Misses;
    if (misses.length === 0 || opts.signal?.aborted) return { prepared, misses, out: null };
    // misses occupy slots 0..m-1 in order; a file that failed to decode leaves its slot unused
    // (slots are handed out before decoding), so run up to the highest slot, not misses.length
    const m = misses.reduce((top, p) => Math.max(top, p.slot + 1), 0);
    const lent = await backbone.lend(buffers[b], m, want);
    buffers[b] = lent.input;
    return { prepared, misses, out: lent.features };
  };
  // Batch k + 1 goes to the backbone as soon as it is decoded, while batch k may still be in it:
  // the backbone's thread queues it and starts it the moment batch k is done, without waiting for
  // this thread to take batch k's answer (a hand-off that cost 10-20% of the fast backbones'
  // rate). Batch k + 2 is read and decoded into batch k's buffer (back with its answer), once
  // batch k + 1 is decoded (one batch at a time on this thread, so the next is ready soonest).
  interface Stage { prep: Promise<Prepared[]>; run: Promise<Ran> }
  const stage = (start: number, b: number, before: Stage | null): Stage | null => {
    if (start >= n) return null;
    const prep = before ? before.prep.then(() => prepareChunk(start, buffers[b])) : prepareChunk(start, buffers[b]);
    return { prep, run: prep.then((p) => runBatch(p, b)) };
  };
  const settle = (...stages: Array<Stage | null>) => {
    for (const st of stages) void st?.run.catch(() => {});
  };
  let current = stage(0, 0, null);
  let next = stage(batchSize, 1, current);
  for (let start = 0, b = 0; start < n; start += batchSize, b ^= 1) {
    let ran: Ran;
    try {
      ran = await current!.run;
    } catch (err) {
      settle(next);
      throw err;
    }
    const after = next ? stage(start + 2 * batchSize, b, next) : null;
    if (opts.signal?.aborted) {
      settle(next, after);
      progress.done();
      opts.signal.throwIfAborted();
    }
    current = next;
    next = after;
    for (const p of ran.prepared) {
      if (!p.cached) continue;
      features?.set(p.cached, p.index * dim);
      ok[p.index] = 1;
      fromCache++;
      progress.tick(1, 1);
    }
    if (!ran.out) continue;
    const data = (opts.tensor === 'pooled' ? ran.out.pooled : ran.out.map)!;
    const writes: Promise<void>[] = [];
    for (const p of ran.misses) {
      const row = data.subarray(p.slot * dim, (p.slot + 1) * dim);
      if (!allFinite(row)) {
        // never handed to a head, never cached
        fail(p.index, new ModelError(`${requests[p.index].file}: ${backbone.name} gave non-finite features (NaN or infinity) for this image; check the model file`));
        continue;
      }
      features?.set(row, p.index * dim);
      ok[p.index] = 1;
      // the row is written where it lies: each pass's output is a buffer of its own, never reused
      if (p.key) writes.push(put(p.key, row));
      computed++;
      progress.tick();
    }
    await written;
    written = Promise.all(writing).then(() => undefined);
    writing = writes;
  }
  await written;
  await Promise.all(writing);
  progress.done();
  const seconds = (performance.now() - t0) / 1000;
  return {
    dim, shape, features, ok, sha256: hashes, failures,
    stats: { total: n, fromCache, computed, failed: failures.length, seconds, imagesPerSecond: n / Math.max(seconds, 1e-9) },
  };
}
