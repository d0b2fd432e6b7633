/**
 * Types of the trainable 2-class last layer ("head") that replaces a frozen backbone's classifier.
 * Parameters are kept in float64 so that training is reproducible bit for bit and gradients can be
 * checked exactly; features arrive as float32.
 */

/**
 * Which torchvision last layer is reproduced.
 * - `linear`: Dropout(p) -> Linear(C, 2) on the pooled vector (ResNet18/50 p = 0, MobileNetV2 p = 0.2).
 * - `relu-linear`: DenseNet-121; the pooled vector is taken after the ReLU, so the math is `linear`.
 * - `squeezenet-conv`: Dropout(0.5) -> Conv2d(C, 2, 1x1) -> ReLU -> global average pool, on a C x H x W map.
 */
export type HeadKind = 'linear' | 'relu-linear' | 'squeezenet-conv';

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

/** Head presets for the backbones of the Deep-COVID paper (torchvision classifiers). */
export const HEAD_PRESETS: Readonly<Record<string, HeadSpec>> = {
  resnet18: { kind: 'linear', inChannels: 512, dropout: 0 },
  resnet50: { kind: 'linear', inChannels: 2048, dropout: 0 },
  mobilenetv2: { kind: 'linear', inChannels: 1280, dropout: 0.2 },
  densenet121: { kind: 'relu-linear', inChannels: 1024, dropout: 0 },
  squeezenet11: { kind: 'squeezenet-conv', inChannels: 512, spatial: [13, 13], dropout: 0.5 },
};

/** Number of spatial positions per channel of a head's input (1 for pooled vectors). */
export function headPositions(spec: HeadSpec): number {
  return spec.kind === 'squeezenet-conv' && spec.spatial ? spec.spatial[0] * spec.spatial[1] : 1;
}

/** Number of float32 values per sample in a head's input. */
export function headInputSize(spec: HeadSpec): number {
  return spec.inChannels * headPositions(spec);
}
