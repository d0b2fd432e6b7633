import { access, readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';
import { ModelNotFoundError, UsageError } from '../errors.js';
import { env } from '../util/env.js';
import { DEV_SHARED } from '../util/paths.js';
import { sha256Hex } from '../util/hash.js';
import { backboneSpec, BACKBONES, provenanceOf, type BackboneSpec, type KnownWeights } from './registry.js';
import { downloadVerified, type DownloadProgress } from './download.js';

/** Where to look for model files. */
export interface LocateOptions {
  /** An explicit .onnx (or .onnx.gz) file: used as is, nothing else is searched. */
  path?: string;
  /** A models folder (default: $DEEP_COVID_MODELS). */
  modelsDir?: string;
  /** Cache folder for downloads (default: <cache root>/models). */
  cacheDir?: string;
  /** Also search the development folder ../shared/models beside the checkout (default: `env.devModels`). */
  devFallback?: boolean;
  /** Allow downloading when the registry has a URL (default true). */
  download?: boolean;
  onDownloadProgress?: DownloadProgress;
  signal?: AbortSignal;
  /** A registry entry to use instead of the built-in one of that name (custom registries, tests). */
  spec?: BackboneSpec;
}

/** A model file found on disk, read and unpacked. */
export interface LocatedModel {
  /** Architecture name (registry name, or the file's base name for custom models). */
  name: string;
  path: string;
  /** sha256 of the file as stored (before any gunzip). */
  sha256: string;
  /** The ONNX bytes (gunzipped when the file was .gz). */
  bytes: Uint8Array;
  spec?: BackboneSpec;
  provenance?: KnownWeights;
  /** Things the caller should tell the user (e.g. the real weights could not be fetched, so another file is used). */
  warnings?: string[];
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

async function readModel(name: string, path: string, spec?: BackboneSpec): Promise<LocatedModel> {
  const raw = await readFile(path);
  const sha256 = sha256Hex(raw);
  const bytes = path.endsWith('.gz') ? gunzipSync(raw) : raw;
  return { name, path, sha256, bytes, spec, provenance: provenanceOf(sha256) };
}

/**
 * Finds a backbone's ONNX file: an explicit path, then $DEEP_COVID_MODELS, then the user cache,
 * then the registry's recipe (fetch + convert into the cache, for real weights that only exist in another form),
 * then the dev folder ../shared/models beside the checkout, then a verified download. A miss throws an error that
 * lists every place searched and how to get the file.
 */
export async function locateModel(name: string, opts: LocateOptions = {}): Promise<LocatedModel> {
  if (opts.path) {
    const p = resolve(opts.path);
    if (!(await exists(p))) throw new ModelNotFoundError(`model file ${p} does not exist`);
    const base = p.replace(/^.*[\\/]/, '').replace(/\.onnx(\.gz)?$/, '');
    return readModel(backboneSpec(name) ? name : base, p, backboneSpec(name) ?? backboneSpec(base));
  }
  const spec = opts.spec ?? backboneSpec(name);
  if (!spec) {
    throw new UsageError(`unknown backbone "${name}": choose one of ${Object.keys(BACKBONES).join(', ')}, or give the path of an ONNX file`);
  }
  const dirs: string[] = [];
  const modelsDir = opts.modelsDir ?? env.modelsDir;
  if (modelsDir) dirs.push(resolve(modelsDir));
  const cacheDir = opts.cacheDir ?? join(env.cacheDir, 'models');
  dirs.push(cacheDir);
  const tried: string[] = [];
  const search = async (dir: string) => {
    for (const file of spec.files) {
      const p = join(dir, file);
      tried.push(p);
      if (await exists(p)) return p;
    }
    return null;
  };
  for (const dir of dirs) {
    const p = await search(dir);
    if (p) return readModel(name, p, spec);
  }
  // a recipe makes the real weights; the dev folder may only hold structure-only files
  let recipeFailure: string | null = null;
  if (spec.recipe && opts.download !== false) {
    const dest = join(cacheDir, spec.files[0]);
    try {
      await spec.recipe.make(dest, { signal: opts.signal, onDownloadProgress: opts.onDownloadProgress });
      return await readModel(name, dest, spec);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      recipeFailure = `${spec.recipe.describe} failed: ${(err as Error).message}`;
    }
  }
  if (opts.devFallback ?? env.devModels) {
    const p = await search(join(DEV_SHARED, 'models'));
    if (p) {
      const m = await readModel(name, p, spec);
      return recipeFailure ? { ...m, warnings: [`${recipeFailure}; using ${p} (${m.provenance?.weights ?? 'unknown'} weights) instead`] } : m;
    }
  }
  if (spec.download && opts.download !== false) {
    const dest = join(cacheDir, spec.files[0]);
    await downloadVerified(spec.download.url, spec.download.sha256, dest, opts.onDownloadProgress, opts.signal);
    return readModel(name, dest, spec);
  }
  throw new ModelNotFoundError(
    `no ONNX file for backbone "${name}". Looked in:\n  ${tried.join('\n  ')}\n` +
      (recipeFailure ? `${recipeFailure}. ` : spec.download || spec.recipe ? '' : 'The registry has no verified download for it. ') +
      `To get it: ${spec.howToGet}; or give the path of an ONNX file.`,
  );
}
