import { Rng } from '../util/rng.js';
import { checkHeadSpec } from './spec-check.js';
import { HEAD_CLASSES, type Head, type HeadSpec } from './types.js';

/**
 * A new head initialised like PyTorch's defaults for nn.Linear / nn.Conv2d: weight from
 * kaiming_uniform(a = sqrt(5)), which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), then bias from the same
 * bound. fan_in = C for both kinds (a 1x1 kernel). Weight values are drawn first, in [out][in] order.
 */
export function createHead(spec: HeadSpec, seed: number | Rng): Head {
  checkHeadSpec(spec);
  const rng = typeof seed === 'number' ? new Rng(seed) : seed;
  const c = spec.inChannels;
  const bound = 1 / Math.sqrt(c);
  const weight = new Float64Array(HEAD_CLASSES * c);
  for (let i = 0; i < weight.length; i++) weight[i] = rng.uniform(-bound, bound);
  const bias = new Float64Array(HEAD_CLASSES);
  for (let i = 0; i < bias.length; i++) bias[i] = rng.uniform(-bound, bound);
  return { ...copySpec(spec), weight, bias };
}

/** A deep copy of a head (parameters included). */
export function cloneHead(head: Head): Head {
  return { ...copySpec(head), weight: head.weight.slice(), bias: head.bias.slice() };
}

function copySpec(spec: HeadSpec): HeadSpec {
  const out: HeadSpec = { kind: spec.kind, inChannels: spec.inChannels, dropout: spec.dropout };
  if (spec.spatial) out.spatial = [spec.spatial[0], spec.spatial[1]];
  return out;
}
