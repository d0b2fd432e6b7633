import { UsageError } from '../errors.js';
import type { HeadSpec } from './types.js';

/** Throws a UsageError naming the setting when a head spec is not usable. */
export function checkHeadSpec(spec: HeadSpec): void {
  const kinds = ['linear', 'squeezenet-conv'];
  if (!kinds.includes(spec.kind)) {
    throw new UsageError(`head kind "${String(spec.kind)}" is unknown; use one of ${kinds.join(', ')}`);
  }
  if (!Number.isInteger(spec.inChannels) || spec.inChannels < 1) {
    throw new UsageError(`head inChannels ${spec.inChannels} must be a positive integer`);
  }
  if (!(spec.dropout >= 0 && spec.dropout < 1)) {
    throw new UsageError(`head dropout ${spec.dropout} must be in [0, 1)`);
  }
  if (spec.kind === 'squeezenet-conv') {
    const s = spec.spatial;
    if (!s || s.length !== 2 || !s.every((v) => Number.isInteger(v) && v >= 1)) {
      throw new UsageError('squeezenet-conv head needs spatial [height, width] of positive integers (13x13 for SqueezeNet 1.1)');
    }
  }
}
