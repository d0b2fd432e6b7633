/**
 * Class activation maps (Zhou et al. 2016) from one forward pass: the head's weights applied at
 * every location of the backbone's last feature map, before pooling. Both variants are exact
 * decompositions of the COVID-vs-non-COVID logit difference, which fixes P(COVID) = sigmoid(l1 − l0):
 *
 * - linear heads (ResNet, MobileNetV2, DenseNet): cam(p) = Σ_c (w[1][c] − w[0][c]) · map[c][p].
 *   The head sees the spatial mean of the map, so mean_p cam(p) + (b1 − b0) = l1 − l0.
 * - SqueezeNet's conv head (1x1 conv → ReLU → global average pool): cam(p) = ReLU(z1(p)) − ReLU(z0(p))
 *   with z_k(p) = Σ_c w[k][c] · map[c][p] + b_k, so mean_p cam(p) = l1 − l0 exactly. The COVID
 *   channel ReLU(z1) alone would ignore evidence for non-COVID at the same place; the difference
 *   is what moves the probability.
 */
import { ModelError } from '../errors.js';
import type { Head } from '../head/types.js';
import type { Heatmap } from './heatmap.js';

/** A CAM at feature-map resolution and upsampled to the crop. */
export interface CamResult {
  /** Feature-map resolution (e.g. 13 x 13 for SqueezeNet 1.1, 7 x 7 for ResNet18). */
  lowres: Heatmap;
  /** Bilinearly upsampled to the crop (224 x 224). */
  map: Heatmap;
  /** P(COVID) of the image, from the same forward pass. */
  probability: number;
  /** l1 − l0, the logit difference the map decomposes. */
  logitDiff: number;
  /**
   * Feature-map cells the map's values are spread over, when not those of `lowres`: an
   * ensemble's averaged map gives the mean of its members' (for the CAM's fixed colour scale).
   */
  cells?: number;
}

/**
 * CAM of one sample of a feature map batch `[n, C, H, W]` for a head. Returns the map at H x W.
 */
export function camFromFeatureMap(head: Head, map: Float32Array, shape: [number, number, number], sample = 0): { cam: Heatmap; logitDiff: number } {
  const [c, h, w] = shape;
  if (c !== head.inChannels) throw new ModelError(`CAM: the feature map has ${c} channels but the head expects ${head.inChannels}`);
  const hw = h * w;
  const base = sample * c * hw;
  const wt = head.weight;
  const out = new Float32Array(hw);
  if (head.kind === 'squeezenet-conv') {
    const z0 = new Float64Array(hw).fill(head.bias[0]);
    const z1 = new Float64Array(hw).fill(head.bias[1]);
    for (let k = 0; k < c; k++) {
      const a0 = wt[k];
      const a1 = wt[c + k];
      const row = base + k * hw;
      for (let p = 0; p < hw; p++) {
        const v = map[row + p];
        z0[p] += a0 * v;
        z1[p] += a1 * v;
      }
    }
    let s = 0;
    for (let p = 0; p < hw; p++) {
      out[p] = Math.max(0, z1[p]) - Math.max(0, z0[p]);
      s += out[p];
    }
    return { cam: { width: w, height: h, data: out }, logitDiff: s / hw };
  }
  const acc = new Float64Array(hw);
  for (let k = 0; k < c; k++) {
    const d = wt[c + k] - wt[k];
    const row = base + k * hw;
    for (let p = 0; p < hw; p++) acc[p] += d * map[row + p];
  }
  let s = 0;
  for (let p = 0; p < hw; p++) {
    out[p] = acc[p];
    s += acc[p];
  }
  return { cam: { width: w, height: h, data: out }, logitDiff: s / hw + head.bias[1] - head.bias[0] };
}
