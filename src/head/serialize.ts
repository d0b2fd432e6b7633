import { ModelError } from '../errors.js';
import { checkHeadSpec } from './spec-check.js';
import { HEAD_CLASSES, type Head, type HeadSpec, type SerializedHead } from './types.js';

/** The head as a plain JSON-friendly object (numbers are exact float64, so JSON round-trips bit for bit). */
export function headToJSON(head: Head): SerializedHead {
  const out: SerializedHead = {
    format: 'deep-covid-head',
    version: 1,
    kind: head.kind,
    inChannels: head.inChannels,
    outClasses: HEAD_CLASSES,
    dropout: head.dropout,
    weight: Array.from(head.weight),
    bias: Array.from(head.bias),
  };
  if (head.spatial) out.spatial = [head.spatial[0], head.spatial[1]];
  return out;
}

/**
 * A head from its serialised form. `source` names where it came from (a file path) for error messages.
 * Throws ModelError when the object is not a valid head.
 */
export function headFromJSON(obj: unknown, source = 'head'): Head {
  const bad = (what: string): never => {
    throw new ModelError(`${source}: not a valid deep-covid head (${what}); retrain or restore the run directory`);
  };
  if (typeof obj !== 'object' || obj === null) bad('not an object');
  const o = obj as Partial<SerializedHead>;
  if (o.format !== 'deep-covid-head') bad('format is not "deep-covid-head"');
  if (o.version !== 1) bad(`unsupported version ${String(o.version)}`);
  if (o.outClasses !== undefined && o.outClasses !== HEAD_CLASSES) bad(`outClasses ${o.outClasses}, expected 2`);
  const spec: HeadSpec = { kind: o.kind!, inChannels: o.inChannels!, dropout: o.dropout ?? 0 };
  if (o.spatial) spec.spatial = [o.spatial[0], o.spatial[1]];
  try {
    checkHeadSpec(spec);
  } catch (e) {
    bad((e as Error).message);
  }
  const numbers = (a: unknown, len: number, name: string): Float64Array => {
    if (!Array.isArray(a) || a.length !== len) bad(`${name} must be an array of ${len} numbers`);
    const arr = a as unknown[];
    const out = new Float64Array(len);
    for (let i = 0; i < len; i++) {
      const v = arr[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${name}[${i}] is not a finite number`);
      out[i] = v as number;
    }
    return out;
  };
  return {
    ...spec,
    weight: numbers(o.weight, HEAD_CLASSES * spec.inChannels, 'weight'),
    bias: numbers(o.bias, HEAD_CLASSES, 'bias'),
  };
}
