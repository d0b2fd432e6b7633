/**
 * Explainers as configured objects (as MONAI's `OcclusionSensitivity` and `CAM`): one table of
 * defaults and one set of "what this map means" texts, used by the CLI's files, the server's
 * answers and the reports alike.
 */
import { occlusionMap, type OcclusionOptions, type OcclusionResult } from './occlusion.js';
import type { CamResult } from './cam.js';
import type { CamModel, ScoringModel } from './model.js';

/** Explanation methods. */
export type ExplainMethod = 'occlusion' | 'cam';

/** Occlusion settings without the per-call parts. */
export type OcclusionSettings = Required<Pick<OcclusionOptions, 'patch' | 'stride' | 'fill' | 'batchSize'>>;

/** Every default of the explainers, in one place. */
export const EXPLAINER_DEFAULTS = Object.freeze({
  /** Files written by `explain`: overlapping 32 px patches every 16 px (169 passes on a 224 crop). */
  occlusion: Object.freeze({ patch: 32, stride: 16, fill: 'mean', batchSize: 32 }) as Readonly<OcclusionSettings>,
  /** Interactive answers (server, page): non-overlapping 32 px patches, 49 passes, seconds not minutes. */
  occlusionInteractive: Object.freeze({ patch: 32, stride: 32, fill: 'mean', batchSize: 25 }) as Readonly<OcclusionSettings>,
  /** Overlay opacity of the pictures. */
  overlayAlpha: 0.45,
});

/** What each map means, in plain words and as the formula computed. */
export const MAP_MEANING: Readonly<Record<ExplainMethod, { readonly plain: string; readonly formula: string }>> = Object.freeze({
  cam: Object.freeze({
    plain: 'Class activation map: how much each region pushed the model towards COVID (bright = strongest push; dark = no push or evidence against COVID). It shows where the model looked, not where disease is.',
    formula: 'per-location contribution to the COVID − non-COVID logit difference (linear heads: Σ_c (w1c − w0c)·map_c; SqueezeNet: ReLU(conv1) − ReLU(conv0)), bilinearly upsampled',
  }),
  occlusion: Object.freeze({
    plain: 'Occlusion sensitivity: how much P(COVID) drops when a square patch over each region is filled with the image’s mean grey (bright = the largest drop). It shows what the model relied on, not where disease is.',
    formula: 'P(COVID)(original) − P(COVID)(patch occluded), averaged over the patches covering each pixel; positive = the region supports COVID',
  }),
});

/** The colour map of every heatmap picture, in words. */
export const COLOUR_MAP_TEXT = 'viridis (dark violet = low / none, yellow = high)';

/** Occlusion sensitivity with fixed settings. */
export class OcclusionSensitivity {
  readonly method = 'occlusion' as const;
  readonly settings: Readonly<OcclusionSettings>;
  constructor(settings: Partial<OcclusionSettings> = {}) {
    this.settings = Object.freeze({ ...EXPLAINER_DEFAULTS.occlusion, ...settings });
  }

  get meaning(): string {
    return MAP_MEANING.occlusion.plain;
  }

  /** Patch positions × 1 pass each, plus the original image. */
  compute(model: ScoringModel, tensor: Float32Array, call: Pick<OcclusionOptions, 'roi' | 'onProgress' | 'signal'> = {}): Promise<OcclusionResult> {
    return occlusionMap(model, tensor, { ...this.settings, ...call });
  }
}

/** Class activation maps (one backbone pass). */
export class ClassActivationMap {
  readonly method = 'cam' as const;
  readonly settings = Object.freeze({ upsampling: 'bilinear' as const });

  get meaning(): string {
    return MAP_MEANING.cam.plain;
  }

  async compute(model: CamModel, tensor: Float32Array): Promise<CamResult> {
    return (await model.camMaps(tensor, 1))[0];
  }
}
