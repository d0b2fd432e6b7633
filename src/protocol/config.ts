import type { RobustPreprocess } from '../preprocess/config.js';

/** The Deep-COVID protocol's settings; the defaults reproduce the paper, everything is settable. */
export interface ProtocolConfig {
  backbone: string;
  seed: number;
  epochs: number;
  batchSize: number;
  lr: number;
  /** Each COVID training image plus factor-1 augmented copies (the paper: 84 → 420, factor 5). 1 = none. */
  augmentFactor: number;
  /** Weight the loss by inverse class frequency instead of (or besides) oversampling. */
  classWeighting: boolean;
  /** Fraction of training patients held out for validation (best epoch and operating threshold). */
  valFraction: number;
  /** Sensitivity the operating threshold must reach on validation. */
  targetSensitivity: number;
  /** Thresholds of the paper's per-threshold tables, plus any the user adds. */
  thresholds: number[];
  /** Prevalence for PPV/NPV; null = the test set's own prevalence. */
  prevalence: number | null;
  /**
   * Robustness to the source (RESULTS.md): grey-level standardisation of every crop, part of the
   * run's preprocessing contract ('none' = the paper's recipe).
   */
  greyLevels: RobustPreprocess['greyLevels'];
  /** Fraction of the shorter side cut away at each edge before the crop (film borders, markers); 0 = none. */
  borderCrop: number;
  /**
   * Keep only the geometric lung fields of every crop (the rest filled with their mean grey), part
   * of the run's preprocessing contract: borders, markers and burnt-in text cannot be learnt.
   */
  lungField: boolean;
  /**
   * Acquisition augmentation (gamma, blur, resolution, noise, JPEG) on top of the geometric one;
   * non-COVID training images then get one augmented copy too, so that no class alone carries it.
   */
  acquisitionAugment: boolean;
  /**
   * How training epochs draw samples: 'shuffle' (each sample once, the paper), 'source' (each
   * image source equally often) or 'source-class' (each source-and-class cell equally often).
   */
  sampling: 'shuffle' | 'source' | 'source-class';
  /**
   * Source nulling: rounds of iterative null-space projection of the source directions (learnt
   * within each class on the training images' pooled features); the head is kept orthogonal to
   * them. 0 = off (the paper).
   */
  sourceNull: number;
  trainSplit: string;
  testSplit: string;
  positiveClass: string;
}

/** The paper's protocol: Adam lr 1e-4, batch 20, 100 epochs, COVID images augmented 5x. */
export const PAPER_PROTOCOL: Omit<ProtocolConfig, 'backbone'> = {
  seed: 0,
  epochs: 100,
  batchSize: 20,
  lr: 1e-4,
  augmentFactor: 5,
  classWeighting: false,
  valFraction: 0.1,
  targetSensitivity: 0.98,
  thresholds: [0.1, 0.2, 0.3, 0.4, 0.5],
  prevalence: null,
  greyLevels: 'none',
  borderCrop: 0,
  lungField: false,
  acquisitionAugment: false,
  sampling: 'shuffle',
  sourceNull: 0,
  trainSplit: 'train',
  testSplit: 'test',
  positiveClass: 'covid',
};
