/** A trained run's model as the explanation methods use it: frozen backbone + head. */
import type { Backbone } from '../backbone/backbone.js';
import { predictProba, type Head } from '../head/index.js';

/** Backbone, head, and which backbone tensor the head reads. */
export interface ExplainModel {
  backbone: Backbone;
  head: Head;
  /** 'pooled' for linear heads, 'map' for SqueezeNet's conv head. */
  tensor: 'pooled' | 'map';
}

/**
 * P(COVID) of `n` preprocessed images (NCHW, concatenated in `input`) through the same backbone
 * session and head code as prediction, so explanations explain the deployed model.
 */
export async function scoreTensors(model: ExplainModel, input: Float32Array, n: number): Promise<Float64Array> {
  const out = await model.backbone.run(input, n, model.tensor === 'pooled' ? { pooled: true } : { map: true });
  const feats = (model.tensor === 'pooled' ? out.pooled : out.map)!;
  return predictProba(model.head, feats);
}
