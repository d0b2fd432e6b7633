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
  return JSON.stringify([cfg.resizeShorter, cfg.interpolation, cfg.crop, cfg.mean, cfg.std]);
}
