import { Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { DEFAULT_MAX_PIXELS } from '../input/load-image.js';
import { Backbone, type BackboneOptions } from '../backbone/backbone.js';
import { FeatureCache } from '../features/cache.js';
import { join } from 'node:path';
import { env } from '../util/env.js';
import type { ProgressListener } from '../util/progress.js';
import { progressBars } from './progress-bars.js';

/** Options every model-running command shares. */
export interface RuntimeOptions {
  models?: string;
  cache?: string;
  threads?: string;
  device?: 'cpu' | 'cuda';
  maxPixels?: string;
  quiet?: boolean;
}

/** Adds --models, --cache, --threads, --device, --max-pixels and --quiet to a command. */
export function addRuntimeOptions(cmd: Command, defaults: { maxPixels?: number } = {}): Command {
  return cmd
    .option('--models <dir>', 'folder with ONNX backbones (default: $DEEP_COVID_MODELS, then the cache, then ../shared/models)')
    .option('--cache <dir>', 'cache folder for features and downloads (default: $DEEP_COVID_CACHE or ~/.cache/deep-covid)')
    .option('--threads <n>', 'onnxruntime intra-op threads (default: all cores)')
    .addOption(new Option('--device <device>', 'execution provider; cuda falls back to cpu with a warning').choices(['cpu', 'cuda']).default('cpu'))
    .option('--max-pixels <n>', 'largest image (width x height) accepted, checked before decoding', String(defaults.maxPixels ?? DEFAULT_MAX_PIXELS))
    .option('-q, --quiet', 'no progress output');
}

/** Parses a positive integer option, with an error naming the option. */
export function positiveInt(value: string | undefined, name: string, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new UsageError(`${name} is required`);
    return fallback;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive whole number, got "${value}"`);
  return n;
}

/** Parses a whole-number option ≥ 0 (e.g. a seed or a port), with an error naming the option. */
export function wholeNumber(value: string | undefined, name: string, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new UsageError(`${name} is required`);
    return fallback;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name} must be a whole number ≥ 0, got "${value}"`);
  return n;
}

/** Parses a number option that must lie in [lo, hi], with an error naming the option. */
export function numberIn(value: string, name: string, lo: number, hi: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < lo || n > hi) throw new UsageError(`${name} must be a number in [${lo}, ${hi}], got "${value}"`);
  return n;
}

/** Backbone loading options from the shared CLI options. */
export function backboneOptions(o: RuntimeOptions, modelPath?: string): BackboneOptions {
  return {
    path: modelPath,
    modelsDir: o.models,
    cacheDir: o.cache ? join(o.cache, 'models') : undefined,
    threads: o.threads ? positiveInt(o.threads, '--threads') : undefined,
    device: o.device,
    warn: (m) => process.stderr.write(`warning: ${m}\n`),
  };
}

/** Loads a backbone by name or file, from the shared CLI options. */
export function loadBackbone(name: string, o: RuntimeOptions, modelPath?: string): Promise<Backbone> {
  return Backbone.load(name, backboneOptions(o, modelPath));
}

/** The feature cache the CLI options point at. */
export function featureCache(o: RuntimeOptions): FeatureCache {
  return new FeatureCache(join(o.cache ?? env.cacheDir, 'features'));
}

/** The progress listener of a command: bars on stderr, or none with --quiet. */
export function progressOf(o: { quiet?: boolean }): ProgressListener | undefined {
  return o.quiet ? undefined : progressBars();
}
