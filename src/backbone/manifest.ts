import type { PreprocessConfig } from '../preprocess/config.js';
import { IMAGENET_224 } from '../preprocess/config.js';

/** Which trainable last layer replaces the backbone's classifier (as torchvision defines it). */
export type HeadKind = 'linear' | 'squeezenet-conv';

/**
 * What deep-covid needs to know about an ONNX backbone, stored as JSON beside the .onnx file
 * (`resnet18.onnx` → `resnet18.json`), like timm's pretrained config. Built-in architectures
 * have one in the registry; for any other torchvision-style classifier it is inferred from the
 * graph, and a sidecar file overrides both.
 */
export interface ModelManifest {
  /** Architecture name, e.g. `resnet18`. */
  architecture: string;
  /** Name of the image input tensor (NCHW float32). */
  input: string;
  preprocess: PreprocessConfig;
  features: {
    /** Tensor holding the globally pooled feature vector [N, C], or null when the graph has none (SqueezeNet). */
    pooled: string | null;
    /** Tensor holding the last feature map [N, C, H, W] (what CAM and the SqueezeNet head use). */
    map: string | null;
  };
  head: {
    kind: HeadKind;
    /** Dropout torchvision puts before the replaced layer during training. */
    dropout: number;
  };
}

/** Fills defaults into a partial manifest read from JSON. */
export function completeManifest(partial: Partial<ModelManifest> & { architecture: string }): ModelManifest {
  return {
    architecture: partial.architecture,
    input: partial.input ?? 'input',
    preprocess: { ...IMAGENET_224, ...(partial.preprocess ?? {}) },
    features: { pooled: partial.features?.pooled ?? null, map: partial.features?.map ?? null },
    head: { kind: partial.head?.kind ?? 'linear', dropout: partial.head?.dropout ?? 0 },
  };
}
