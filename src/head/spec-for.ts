import type { Backbone } from '../backbone/backbone.js';
import { tensorForHead, type FeatureTensor } from '../backbone/manifest.js';
import type { HeadSpec } from './types.js';

/**
 * The head a backbone gets (kind and dropout from its manifest, sizes from its features) and the
 * feature tensor that head reads: the one place both are decided, for training and prediction.
 */
export async function headSpecFor(backbone: Backbone): Promise<{ spec: HeadSpec; tensor: FeatureTensor }> {
  const shapes = await backbone.featureShapes();
  const { kind, dropout } = backbone.manifest.head;
  const tensor = tensorForHead(kind);
  if (kind === 'squeezenet-conv') {
    const [c, h, w] = shapes.map!;
    return { spec: { kind, inChannels: c, spatial: [h, w], dropout }, tensor };
  }
  return { spec: { kind, inChannels: shapes.pooledDim, dropout }, tensor };
}
