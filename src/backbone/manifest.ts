import type { PreprocessConfig } from '../preprocess/config.js';
import { IMAGENET_224 } from '../preprocess/config.js';
import type { BackboneSpec } from './registry.js';

/**
 * Which trainable last layer replaces the backbone's classifier (as torchvision defines it).
 * - `linear`: Dropout(p) → Linear(C, 2) on the pooled vector (ResNet, MobileNetV2; DenseNet-121's
 *   pooled vector is taken after its ReLU, so its head is linear too).
 * - `squeezenet-conv`: Dropout(0.5) → Conv2d(C, 2, 1x1) → ReLU → global average pool, on the C x H x W map.
 */
export type HeadKind = 'linear' | 'squeezenet-conv';

/** The backbone tensor a head reads: the pooled vector, or the last feature map. */
export type FeatureTensor = 'pooled' | 'map';

/** The feature tensor a head kind reads. */
export function tensorForHead(kind: HeadKind): FeatureTensor {
  return kind === 'squeezenet-conv' ? 'map' : 'pooled';
}

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

/** What the graph search found in an ONNX file. */
export interface GraphFacts {
  input: string;
  pooled: string | null;
  map: string | null;
}

/**
 * The one place a model's contract is resolved (timm's `resolve_data_config`): registry entry,
 * then what the graph shows, then the sidecar manifest beside the file, then the caller's
 * overrides, each layer replacing what the one before said.
 */
export function resolveManifest(layers: {
  architecture: string;
  spec?: BackboneSpec;
  graph: GraphFacts;
  sidecar?: Partial<ModelManifest>;
  overrides?: Partial<ModelManifest>;
}): ModelManifest {
  const { spec, graph } = layers;
  const fromRegistry: Partial<ModelManifest> = spec
    ? { preprocess: spec.preprocess, head: { ...spec.head }, features: { pooled: spec.features.pooled ?? graph.pooled, map: spec.features.map ?? graph.map } }
    : { head: graph.pooled ? { kind: 'linear', dropout: 0 } : { kind: 'squeezenet-conv', dropout: 0.5 } };
  const merged: Partial<ModelManifest> = { input: graph.input, features: { pooled: graph.pooled, map: graph.map }, ...fromRegistry, ...(layers.sidecar ?? {}), ...(layers.overrides ?? {}) };
  return completeManifest({ ...merged, architecture: merged.architecture ?? layers.architecture });
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
