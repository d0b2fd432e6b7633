/**
 * The gate applied to whole inputs: the facts of one image (header and pixels), and a batch
 * helper that adds the learned check from the backbone's pooled features. A model calls
 * `inspectImage` per input and `assessFeatures` on the features it computed anyway, then
 * `combineGate`; `gateFiles` does all of it for a list of files (benchmarks, tests, evaluation).
 */
import type { Backbone } from '../backbone/backbone.js';
import type { FeatureCache } from '../features/cache.js';
import { extractFeatures, type ExtractFailure } from '../features/extract.js';
import type { LoadedImage } from '../input/grey-image.js';
import { probeImage, type ImageSource, type LoadLimits, type ProbedImage } from '../input/load-image.js';
import type { ProgressListener } from '../util/progress.js';
import { combineGate } from './combine.js';
import { assessHeader } from './header.js';
import { assessImage } from './image.js';
import { measureImage } from './measure-file.js';
import { assessScore, scoreFeatures, type GateModel } from './ood.js';
import { gateSettings, type GateSettings } from './settings.js';
import type { GateResult, HeaderCheck, ImageCheck } from './types.js';

/**
 * The header and image checks of one probed input. Pass `decoded` when the caller has already
 * decoded a DICOM file (its `meta` carries the header facts), so it is not decoded twice.
 * @throws InputError naming the file when it cannot be decoded.
 */
export async function inspectImage(probe: ProbedImage, decoded?: LoadedImage, settings: Partial<GateSettings> = {}): Promise<{ header: HeaderCheck | null; image: ImageCheck }> {
  const s = gateSettings(settings);
  const { facts, meta } = await measureImage(probe, decoded);
  return { header: probe.format === 'dicom' ? assessHeader(meta ?? {}, s) : null, image: assessImage(facts, s) };
}

/**
 * The mirror symmetry (ImageFacts.symmetry) of each file, measured as the gate measures it: what
 * `fitGateCrossFitted` needs of the training images to weigh symmetry (a few files at a time).
 * @throws InputError naming the first file that cannot be decoded.
 */
export async function measureSymmetry(sources: readonly ImageSource[], opts: { limits?: Partial<LoadLimits>; signal?: AbortSignal } = {}): Promise<Float64Array> {
  const out = new Float64Array(sources.length);
  const width = 4;
  for (let start = 0; start < sources.length; start += width) {
    opts.signal?.throwIfAborted();
    await Promise.all(sources.slice(start, start + width).map(async (src, k) => {
      out[start + k] = (await measureImage(await probeImage(src, opts.limits))).facts.symmetry;
    }));
  }
  return out;
}

/** Options of `gateFiles`. */
export interface GateFilesOptions {
  cache?: FeatureCache | null;
  limits?: Partial<LoadLimits>;
  settings?: Partial<GateSettings>;
  /** Nothing refused; reasons say what would have been (see `combineGate`). */
  disabled?: boolean;
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
}

/** A gated input: the result, or why the file could not be read at all. */
export type GatedFile = { file: string; gate: GateResult } | { file: string; error: string };

/**
 * Gates a list of files with a backbone and (when the run has one) its fitted gate: pooled
 * features through the streaming extractor (cached), header and image facts per file. Files
 * that cannot be decoded get an error entry; the others a GateResult, in input order.
 */
export async function gateFiles(backbone: Backbone, gate: GateModel | null, sources: readonly ImageSource[], opts: GateFilesOptions = {}): Promise<GatedFile[]> {
  if (gate && gate.backboneSha256 !== backbone.modelSha256) {
    throw new Error(`the gate was fitted on the features of backbone ${gate.backboneSha256.slice(0, 12)}…, not ${backbone.name} (${backbone.modelSha256.slice(0, 12)}…)`);
  }
  const requests = sources.map((s) => (typeof s === 'string' ? { file: s } : { file: s.name, bytes: s.bytes }));
  const checks: Array<Awaited<ReturnType<typeof inspectImage>> | { error: string } | undefined> = new Array(sources.length);
  const check = async (i: number, probe: ProbedImage, decoded?: LoadedImage): Promise<void> => {
    try {
      checks[i] = await inspectImage(probe, decoded, opts.settings);
    } catch (err) {
      checks[i] = { error: err instanceof Error ? err.message : String(err) };
    }
  };
  // With a learned check the extraction reads each file once and hands over its probe and
  // decoded pixels; without one there are no features to compute, only the facts.
  const res = gate
    ? await extractFeatures(backbone, requests, {
      tensor: 'pooled', cache: opts.cache ?? null, limits: opts.limits, batchSize: opts.batchSize, signal: opts.signal, onProgress: opts.onProgress, label: 'gate features',
      inspect: (i, probe, image) => check(i, probe, image ?? undefined),
    })
    : null;
  const scores = gate && res ? scoreFeatures(gate, res.features!, requests.length) : null;
  const failed = new Map<string, ExtractFailure>((res?.failures ?? []).map((f) => [f.file, f]));
  if (!res) {
    // a few files at a time: sharp decodes on its own threads
    const width = 4;
    for (let start = 0; start < sources.length; start += width) {
      opts.signal?.throwIfAborted();
      await Promise.all(sources.slice(start, start + width).map(async (src, k) => {
        const probe = await probeImage(src, opts.limits).catch((err: unknown) => err instanceof Error ? err : new Error(String(err)));
        if (probe instanceof Error) checks[start + k] = { error: probe.message };
        else await check(start + k, probe);
      }));
    }
  }
  const out: GatedFile[] = new Array<GatedFile>(sources.length);
  for (let i = 0; i < sources.length; i++) {
    const file = requests[i].file;
    const c = checks[i];
    if ((res && !res.ok[i]) || !c) {
      out[i] = { file, error: failed.get(file)?.message ?? `${file}: could not be read` };
    } else if ('error' in c) {
      out[i] = { file, error: c.error };
    } else {
      const ood = gate && scores ? assessScore(gate, scores[i], c.image.facts.symmetry) : null;
      out[i] = { file, gate: combineGate({ header: c.header, image: c.image, ood }, { disabled: opts.disabled, noOodModel: !gate }) };
    }
  }
  return out;
}
