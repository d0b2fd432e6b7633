/**
 * What the explanation methods need from a trained model, and nothing more: its preprocessing
 * contract and P(COVID) of preprocessed tensors, plus, for class activation maps, CAMs of them.
 * `DeepCovidModel` (src/model) provides both through the same backbone session and head as its
 * predictions, so explanations explain the deployed model.
 */
import type { PreprocessConfig } from '../preprocess/config.js';
import type { CamResult } from './cam.js';

/** A model that scores preprocessed images. */
export interface ScoringModel {
  readonly preprocess: PreprocessConfig;
  /** P(COVID) of `n` preprocessed images (NCHW, concatenated in `input`). */
  score(input: Float32Array, n: number): Promise<Float64Array>;
}

/** A model that can also give class activation maps of preprocessed images. */
export interface CamModel extends ScoringModel {
  /** CAMs of `n` preprocessed images from one backbone pass, upsampled to the crop. */
  camMaps(input: Float32Array, n: number): Promise<CamResult[]>;
}
