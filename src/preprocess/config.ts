import { UsageError } from '../errors.js';
import { GREY_LEVEL_PRESETS, type GreyLevels } from './grey-levels.js';
import { lungFieldOf, type LungField } from './lung-region.js';

/**
 * The preprocessing contract between images and a backbone. It is data (read from the model
 * manifest beside each .onnx, like timm's pretrained config), not code, so that a model file and
 * the recipe it was trained with travel together.
 */
export interface PreprocessConfig {
  /** Resize so that the shorter side has this many pixels (aspect ratio kept), as torchvision `Resize(int)`. */
  resizeShorter: number;
  /** Resampling filter of the resize (torchvision's default is bilinear, antialiased). */
  interpolation: 'bilinear' | 'bicubic' | 'lanczos3' | 'nearest';
  /** Centre crop to this [height, width], as torchvision `CenterCrop`. */
  crop: [number, number];
  /** Per-channel mean and std applied to values scaled to [0, 1] (RGB order). */
  mean: [number, number, number];
  std: [number, number, number];
  /**
   * Grey-level standardisation of the crop before normalisation (a robustness option, see
   * grey-levels.ts); absent = none, the paper's recipe.
   */
  greyLevels?: GreyLevels;
  /**
   * Lung fields only (a robustness option, see lung-region.ts): everything outside the geometric
   * lung region of the crop is filled with the mean grey inside it, before any grey-level
   * standardisation; absent = the whole crop, the paper's recipe.
   */
  lungField?: LungField;
}

/** The torchvision ImageNet evaluation recipe used by Deep-COVID: Resize(224), CenterCrop(224), ImageNet mean/std. */
export const IMAGENET_224: PreprocessConfig = Object.freeze({
  resizeShorter: 224,
  interpolation: 'bilinear',
  crop: [224, 224],
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
}) as PreprocessConfig;

/** Number of floats in one preprocessed image (3 x H x W). */
export function tensorLength(cfg: PreprocessConfig): number {
  return 3 * cfg.crop[0] * cfg.crop[1];
}

/** A short stable string of the config, for cache keys. */
export function preprocessKey(cfg: PreprocessConfig): string {
  const base = [cfg.resizeShorter, cfg.interpolation, cfg.crop, cfg.mean, cfg.std];
  // appended only when set, so the keys of the paper's recipe and of the older options (and their
  // cached features) stay as they were
  const key: unknown[] = cfg.greyLevels ? [...base, cfg.greyLevels] : base;
  if (cfg.lungField) key.push({ lungField: cfg.lungField });
  return JSON.stringify(key);
}

/** The robustness options of the preprocessing, as a training run sets them. */
export interface RobustPreprocess {
  /** Grey-level standardisation by name ('none' = the paper's recipe). */
  greyLevels: 'none' | GreyLevels['method'];
  /**
   * Fraction of the shorter side cut away at each edge before the centre crop (film borders,
   * burnt-in markers): the image is resized larger (shorter side crop / (1 - 2 x fraction)) and
   * centre-cropped, as torchvision's Resize(256) + CenterCrop(224) does. 0 = none; at most 0.25.
   */
  borderCrop: number;
  /** Keep only the geometric lung fields of the crop (the rest filled with their mean grey); absent = false. */
  lungField?: boolean;
}

/** The contract `base` with the robustness options applied (the options none: `base` itself). */
export function withRobustPreprocess(base: PreprocessConfig, r: RobustPreprocess): PreprocessConfig {
  if (!(r.borderCrop >= 0 && r.borderCrop <= 0.25)) throw new UsageError(`preprocessing option borderCrop=${r.borderCrop} must be a fraction in 0..0.25`);
  if (r.greyLevels === 'none' && r.borderCrop === 0 && !r.lungField) return base;
  const out: PreprocessConfig = { ...base };
  if (r.borderCrop > 0) out.resizeShorter = Math.round(Math.min(...base.crop) / (1 - 2 * r.borderCrop));
  if (r.greyLevels !== 'none') out.greyLevels = { ...GREY_LEVEL_PRESETS[r.greyLevels] };
  if (r.lungField) out.lungField = lungFieldOf();
  return out;
}
