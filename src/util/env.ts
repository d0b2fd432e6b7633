/**
 * deep-covid's process-wide settings, in one object (as transformers.js's `env`): read once from
 * the environment, changeable by the program that uses the library. Library calls take explicit
 * options first and fall back to these.
 */
import { cacheRoot } from './paths.js';

/** Settings every layer may read. */
export interface DeepCovidEnv {
  /**
   * Also search the development folder `../shared/models` beside the checkout for backbones.
   * Off for library users (a library must not pick up files from beside its install folder); the
   * `deep-covid` command and the test suite turn it on. Default: $DEEP_COVID_DEV === '1'.
   */
  devModels: boolean;
  /** Cache root for features and downloaded models (default: $DEEP_COVID_CACHE, $XDG_CACHE_HOME/deep-covid, ~/.cache/deep-covid). */
  cacheDir: string;
  /** A folder searched first for backbone files (default: $DEEP_COVID_MODELS). */
  modelsDir: string | undefined;
}

/** The settings in force. */
export const env: DeepCovidEnv = {
  devModels: process.env.DEEP_COVID_DEV === '1',
  cacheDir: cacheRoot(),
  modelsDir: process.env.DEEP_COVID_MODELS || undefined,
};
