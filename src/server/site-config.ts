/** The description of an exported static site (site.json): what the browser page needs to run the model itself. */
import type { FeatureTensor } from '../backbone/manifest.js';
import type { PreprocessConfig } from '../preprocess/config.js';
import type { ApiModelCard } from './api-types.js';

/** File name of the site description inside an exported folder. */
export const SITE_CONFIG = 'site.json';
export const SITE_FORMAT = 'deep-covid-site';

export interface SiteConfig {
  format: typeof SITE_FORMAT;
  version: 1;
  runId: string;
  /** The backbone the run was trained with (sha256 of the original file, as run.json records it). */
  backbone: { name: string; weights: string; sha256: string; file: string };
  /** The exported graph: the same weights with the feature tensors exposed as outputs. */
  model: { file: string; sha256: string; input: string; pooled: string | null; map: string | null; tensor: FeatureTensor };
  preprocess: PreprocessConfig;
  /** The operating threshold chosen on validation. */
  threshold: number;
  /** File names of the head and (when the run has one) the input gate's statistics. */
  head: string;
  gate: string | null;
  /** True when exported with the gate switched off (export-web --no-gate): nothing is refused, every result is stamped. */
  gateDisabled?: boolean;
  card: ApiModelCard;
}
