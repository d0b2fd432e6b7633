// Absolute paths into the shared development folder (/work/shared beside the checkout), read at run time.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (where package.json is). */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The shared folder `../shared` beside the checkout. */
export const SHARED = resolve(projectRoot, '../shared');
export const MODELS_DIR = resolve(SHARED, 'models');
export const REFERENCE_DIR = resolve(SHARED, 'reference');
export const DEV_SET = resolve(SHARED, 'data', 'covidx5k-dev');
export const BAD_INPUTS = resolve(SHARED, 'data', 'bad-inputs');
/** The synthetic (structure-only) SqueezeNet: the smallest model, for tests that only need "a model". */
export const SYNTHETIC_SQUEEZENET = resolve(MODELS_DIR, 'synthetic', 'squeezenet1_1.onnx');

/** True when the shared models, reference and data folders are all present. */
export const hasShared = existsSync(MODELS_DIR) && existsSync(REFERENCE_DIR) && existsSync(DEV_SET) && existsSync(BAD_INPUTS);

/** Pass as node:test's `skip` option: false when shared/ exists, else the reason. */
export const skipNoShared: string | false = hasShared ? false : `shared development folder ${SHARED} is absent (models, reference outputs and dev data live there)`;

/** Debian's Chromium, which the browser tests drive through Playwright. */
export const CHROMIUM = '/usr/bin/chromium';

/** Why a browser test cannot run here (no Chromium, or no shared folder), or false. */
export const skipNoBrowser: string | false = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium) to run the browser test`
  : !hasShared ? `shared development folder ${SHARED} is absent (dev images and models live there)` : false;
