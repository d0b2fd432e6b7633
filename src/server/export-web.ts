/**
 * export-web: a run as a static folder that does the whole prediction in the browser (no image
 * leaves the machine). The folder holds the client page, the run's backbone with its feature
 * tensors exposed as outputs (so onnxruntime-web needs no graph surgery), the head, the threshold,
 * the model card facts, the gate statistics when the run has them (gate.json as the run holds it:
 * float32 base64, 0.7 MiB for SqueezeNet's 512 channels, 4.2 MiB for MobileNetV2's 1280), and the
 * WASM files of onnxruntime-web and of the DICOM codecs, so the page fetches nothing from elsewhere.
 */
import { access, copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { prepareBackboneGraph } from '../backbone/backbone.js';
import { tensorForHead } from '../backbone/manifest.js';
import { RunError, UsageError } from '../errors.js';
import { readRunDir, RUN_FILES } from '../protocol/run-folder.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { sha256Hex } from '../util/hash.js';
import { DEFAULT_SERVER_MAX_PIXELS } from '../input/load-image.js';
import { modelCard } from './model-card.js';
import { buildModelCard } from '../report/model-card.js';
import type { SiteConfig } from './site-config.js';
import { SITE_CONFIG, SITE_FORMAT } from './site-config.js';

/** The client page's files, as scripts/build-web.mjs writes them into its `client/` folder. */
const PAGE_FILES = ['index.html', 'client.js', 'style.css', 'favicon.svg'];
/** onnxruntime-web files the page loads: the ES module API and the SIMD(+threads) WASM build it imports. */
export const ORT_FILES = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];
/** The DICOM codecs' WASM files (package export names), fetched by the page from its codecs/ folder (input/dicom/runtime.browser.ts). */
export const CODEC_WASM_FILES = [
  '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasm',
  '@cornerstonejs/codec-charls/decodewasm',
  '@cornerstonejs/codec-openjpeg/decodewasm',
  '@cornerstonejs/codec-openjph/wasm',
];

/** What export-web needs. */
export interface ExportWebOptions {
  /** The run folder. */
  run: string;
  /** The output folder: created, or replaced only when it holds an earlier export. */
  out: string;
  /** Folder with the built client page (dist/web/client). */
  pageRoot: string;
  /** The backbone's ONNX file, when it moved since training (its sha256 must match the run's). */
  modelPath?: string;
  /** false: the page's input gate refuses nothing and stamps every result (researchers' choice; default true). */
  gate?: boolean;
}

/** What was written. */
export interface ExportWebResult {
  out: string;
  files: string[];
  bytes: number;
  config: SiteConfig;
}

/** The codecs' WASM files on disk. */
function codecWasmPaths(): string[] {
  const require = createRequire(import.meta.url);
  return CODEC_WASM_FILES.map((f) => {
    try {
      return require.resolve(f);
    } catch (err) {
      throw new UsageError(`the DICOM codec ${f} is not installed (${(err as Error).message.split('\n')[0]}): run npm ci in the deep-covid folder`);
    }
  });
}

/** Where onnxruntime-web's dist folder is (it is a dependency; the lookup says what to do when it is missing). */
function ortDist(): string {
  try {
    // the package exports its WASM file by name (not package.json): its folder is dist/
    return dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
  } catch (err) {
    throw new UsageError(`the onnxruntime-web package is not installed (${(err as Error).message.split('\n')[0]}): run npm ci in the deep-covid folder`);
  }
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}

/**
 * Writes the static site of a run into `out` (via a hidden sibling renamed into place, so a failed
 * export leaves nothing half-written). Refuses an existing folder that is not an earlier export.
 * @throws RunError for a bad run folder or a backbone whose sha256 differs from the run's.
 */
export async function exportWeb(opts: ExportWebOptions): Promise<ExportWebResult> {
  const out = resolve(opts.out);
  if (await exists(out)) {
    const entries = await readdir(out).catch(() => null);
    if (entries === null) throw new UsageError(`${out} exists and is not a folder: choose another output folder`);
    if (entries.length > 0 && !entries.includes(SITE_CONFIG)) {
      throw new UsageError(`${out} is not empty and does not hold an earlier web export: choose an empty or new output folder`);
    }
  }
  for (const f of PAGE_FILES) {
    if (!(await exists(join(opts.pageRoot, f)))) throw new UsageError(`the client page is not built (${join(opts.pageRoot, f)} is missing): run npm run build`);
  }
  const dist = ortDist();
  const codecs = codecWasmPaths();
  const run = await readRunDir(opts.run);
  const rec = run.record;
  const recorded = (await exists(rec.backbone.file)) ? rec.backbone.file : undefined;
  const graph = await prepareBackboneGraph(rec.backbone.name, { path: opts.modelPath ?? recorded });
  if (graph.located.sha256 !== rec.backbone.sha256) {
    throw new RunError(`${graph.located.path} (sha256 ${graph.located.sha256.slice(0, 12)}…) is not the backbone run ${rec.id} was trained with (sha256 ${rec.backbone.sha256.slice(0, 12)}…, ${rec.backbone.file}): give that file as the model path`);
  }
  const { manifest } = graph;
  const tensor = tensorForHead(run.head.kind);
  if (!manifest.features.map && (tensor === 'map' || !manifest.features.pooled)) {
    throw new RunError(`${graph.located.path}: the graph exposes no feature map, which the browser needs for the head and CAM`);
  }
  const hasGate = await exists(join(run.dir, RUN_FILES.gate));
  const config: SiteConfig = {
    format: SITE_FORMAT,
    version: 1,
    runId: rec.id,
    backbone: { name: rec.backbone.name, weights: rec.backbone.weights, sha256: rec.backbone.sha256, file: basename(rec.backbone.file) },
    model: {
      file: 'backbone.onnx',
      sha256: sha256Hex(graph.bytes),
      input: manifest.input,
      pooled: manifest.features.pooled,
      map: manifest.features.map,
      tensor,
    },
    // the run's recorded contract (its robustness options included), not the graph's default
    preprocess: { ...manifest.preprocess, ...rec.backbone.manifest.preprocess },
    threshold: rec.threshold.value,
    head: RUN_FILES.head,
    gate: hasGate ? RUN_FILES.gate : null,
    ...(opts.gate === false ? { gateDisabled: true } : {}),
    card: modelCard(buildModelCard({ record: rec, metrics: run.metrics }), { maxUploadBytes: 0, maxPixels: DEFAULT_SERVER_MAX_PIXELS, concurrency: 1, maxQueued: 0 }),
  };

  const tmp = join(dirname(out), `.partial-${basename(out)}-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(join(tmp, 'ort'), { recursive: true });
  await mkdir(join(tmp, 'codecs'), { recursive: true });
  try {
    for (const f of PAGE_FILES) await copyFile(join(opts.pageRoot, f), join(tmp, f));
    for (const f of ORT_FILES) await copyFile(join(dist, f), join(tmp, 'ort', f));
    for (const f of codecs) await copyFile(f, join(tmp, 'codecs', basename(f)));
    await writeFileAtomic(join(tmp, config.model.file), graph.bytes);
    await copyFile(join(run.dir, RUN_FILES.head), join(tmp, RUN_FILES.head));
    if (hasGate) await copyFile(join(run.dir, RUN_FILES.gate), join(tmp, RUN_FILES.gate));
    await writeFileAtomic(join(tmp, SITE_CONFIG), JSON.stringify(config, null, 1) + '\n');
    await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const files = [...PAGE_FILES, ...ORT_FILES.map((f) => `ort/${f}`), ...codecs.map((f) => `codecs/${basename(f)}`), config.model.file, RUN_FILES.head, ...(hasGate ? [RUN_FILES.gate] : []), SITE_CONFIG];
  let bytes = 0;
  for (const f of files) bytes += (await stat(join(out, f))).size;
  return { out, files, bytes, config };
}
