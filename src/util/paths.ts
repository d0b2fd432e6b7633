import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root folder (where package.json is), from this module's location in src/ or dist/. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The shared development folder beside a checkout (`../shared`), holding the dev data set and
 * ONNX backbones. Used only as a documented fallback when nothing else is given.
 */
export const DEV_SHARED = resolve(PROJECT_ROOT, '..', 'shared');

/** deep-covid's cache root: $DEEP_COVID_CACHE, else $XDG_CACHE_HOME/deep-covid, else ~/.cache/deep-covid. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DEEP_COVID_CACHE) return resolve(env.DEEP_COVID_CACHE);
  const xdg = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(xdg, 'deep-covid');
}
