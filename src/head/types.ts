/**
 * Types of the trainable 2-class last layer ("head") that replaces a frozen backbone's classifier.
 * Parameters are kept in float64 so that training is reproducible bit for bit and gradients can be
 * checked exactly; features arrive as float32.
 */

import type { HeadKind } from '../backbone/manifest.js';

export type { HeadKind };

/** Number of output classes (index 0 = non-COVID, index 1 = COVID). */
export const HEAD_CLASSES = 2;

/** Shape and regularisation of a head, without parameters. */
export interface HeadSpec {
  kind: HeadKind;
  /** Feature channels C (pooled vector length, or map channels). */
  inChannels: number;
  /** [height, width] of the feature map; only for `squeezenet-conv`. */
  spatial?: [number, number];
  /** Dropout probability applied to the head's input at train time (0 <= p < 1). */
  dropout: number;
}

/** A head with its parameters. `weight` is out-major [2][C] (torch layout of Linear / 1x1 Conv2d). */
export interface Head extends HeadSpec {
  weight: Float64Array;
  bias: Float64Array;
}

/** JSON-friendly form of a head, as stored in a run directory. */
export interface SerializedHead {
  format: 'deep-covid-head';
  version: 1;
  kind: HeadKind;
  inChannels: number;
  outClasses: 2;
  spatial?: [number, number];
  dropout: number;
  weight: number[];
  bias: number[];
}


/** Number of spatial positions per channel of a head's input (1 for pooled vectors). */
export function headPositions(spec: HeadSpec): number {
  return spec.kind === 'squeezenet-conv' && spec.spatial ? spec.spatial[0] * spec.spatial[1] : 1;
}

/** Number of float32 values per sample in a head's input. */
export function headInputSize(spec: HeadSpec): number {
  return spec.inChannels * headPositions(spec);
}
