// A tiny TensorFlow.js layers model built in the test (model.json + binary shards, seeded random
// weights) and an independent float64 computation of the same Keras layers, NHWC, to check the
// TF.js → ONNX converter against.
import { Rng } from '../../src/util/rng.js';

export interface LayerSpec {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inputs: string[];
}

/** A Keras functional model: layer specs plus weights by name (Keras layouts). */
export interface TinyKeras {
  layers: LayerSpec[];
  weights: { name: string; shape: number[]; data: Float32Array }[];
  input: [number, number, number];
  output: string;
}

/** NHWC tensor of one image. */
export interface Img {
  h: number;
  w: number;
  c: number;
  d: Float64Array;
}

/** Builds layer specs with seeded weights: conv(), bn(), ... return the layer name for chaining. */
export class KerasBuilder {
  readonly layers: LayerSpec[] = [];
  readonly weights: TinyKeras['weights'] = [];
  private readonly rng: Rng;
  private readonly channels = new Map<string, number>();

  constructor(seed: number, readonly input: [number, number, number]) {
    this.rng = new Rng(seed);
    this.layers.push({ name: 'input_1', class_name: 'InputLayer', config: { batch_input_shape: [null, ...input], dtype: 'float32' }, inputs: [] });
    this.channels.set('input_1', input[2]);
  }

  private add(name: string, class_name: string, config: Record<string, unknown>, inputs: string[], channels: number): string {
    this.layers.push({ name, class_name, config: { name, ...config }, inputs });
    this.channels.set(name, channels);
    return name;
  }

  private weight(name: string, shape: number[], f: () => number): void {
    const n = shape.reduce((a, b) => a * b, 1);
    this.weights.push({ name, shape, data: Float32Array.from({ length: n }, f) });
  }

  private ch(layer: string): number {
    return this.channels.get(layer)!;
  }

  pad(name: string, x: string, padding: unknown): string {
    return this.add(name, 'ZeroPadding2D', { padding, data_format: 'channels_last' }, [x], this.ch(x));
  }

  conv(name: string, x: string, filters: number, k: number, strides: number, padding: 'valid' | 'same', activation = 'linear'): string {
    const cin = this.ch(x);
    this.weight(`${name}/kernel`, [k, k, cin, filters], () => this.rng.normal() * Math.sqrt(2 / (k * k * cin)));
    this.weight(`${name}/bias`, [filters], () => this.rng.uniform(-0.5, 0.5));
    return this.add(name, 'Conv2D', { filters, kernel_size: [k, k], strides: [strides, strides], padding, data_format: 'channels_last', dilation_rate: [1, 1], activation, use_bias: true }, [x], filters);
  }

  bn(name: string, x: string, eps = 1e-3): string {
    const c = this.ch(x);
    this.weight(`${name}/gamma`, [c], () => this.rng.uniform(0.5, 1.5));
    this.weight(`${name}/beta`, [c], () => this.rng.uniform(-0.5, 0.5));
    this.weight(`${name}/moving_mean`, [c], () => this.rng.uniform(-0.5, 0.5));
    this.weight(`${name}/moving_variance`, [c], () => this.rng.uniform(0.2, 2));
    return this.add(name, 'BatchNormalization', { axis: [3], epsilon: eps, center: true, scale: true }, [x], c);
  }

  act(name: string, x: string, activation: string): string {
    return this.add(name, 'Activation', { activation }, [x], this.ch(x));
  }

  maxPool(name: string, x: string, size: number, strides: number): string {
    return this.add(name, 'MaxPooling2D', { pool_size: [size, size], strides: [strides, strides], padding: 'valid', data_format: 'channels_last' }, [x], this.ch(x));
  }

  sum(name: string, xs: string[]): string {
    return this.add(name, 'Add', {}, xs, this.ch(xs[0]));
  }

  gap(name: string, x: string): string {
    return this.add(name, 'GlobalAveragePooling2D', { data_format: 'channels_last' }, [x], this.ch(x));
  }

  flatten(name: string, x: string, size: number): string {
    return this.add(name, 'Flatten', { data_format: 'channels_last' }, [x], size);
  }

  dense(name: string, x: string, units: number, activation: string): string {
    const nin = this.ch(x);
    this.weight(`${name}/kernel`, [nin, units], () => this.rng.normal() / Math.sqrt(nin));
    this.weight(`${name}/bias`, [units], () => this.rng.uniform(-0.5, 0.5));
    return this.add(name, 'Dense', { units, activation, use_bias: true }, [x], units);
  }

  /** Any other layer (for error tests). */
  other(name: string, className: string, x: string): string {
    return this.add(name, className, {}, [x], this.ch(x));
  }

  build(output: string): TinyKeras {
    return { layers: this.layers, weights: this.weights, input: this.input, output };
  }
}

/** model.json text and shard files, the weights split into shards of `shardBytes` (cutting through tensors). */
export function toTfjsFiles(m: TinyKeras, shardBytes: number): Map<string, Uint8Array> {
  const total = m.weights.reduce((s, w) => s + w.data.byteLength, 0);
  const all = new Uint8Array(total);
  let off = 0;
  for (const w of m.weights) {
    all.set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength), off);
    off += w.data.byteLength;
  }
  const files = new Map<string, Uint8Array>();
  const n = Math.ceil(total / shardBytes);
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = `group1-shard${i + 1}of${n}.bin`;
    paths.push(p);
    files.set(p, all.slice(i * shardBytes, Math.min(total, (i + 1) * shardBytes)));
  }
  const json = {
    format: 'layers-model',
    generatedBy: 'deep-covid test',
    modelTopology: {
      keras_version: '2.2.4-tf',
      model_config: {
        class_name: 'Model',
        config: {
          name: 'tiny',
          layers: m.layers.map((l) => ({ name: l.name, class_name: l.class_name, config: l.config, inbound_nodes: l.inputs.length ? [l.inputs.map((i) => [i, 0, 0, {}])] : [] })),
          input_layers: [['input_1', 0, 0]],
          output_layers: [[m.output, 0, 0]],
        },
      },
    },
    weightsManifest: [{ paths, weights: m.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
  };
  files.set('model.json', new TextEncoder().encode(JSON.stringify(json)));
  return files;
}

// ---------- the reference: Keras semantics, float64, NHWC ----------

const at = (x: Img, y: number, xx: number, c: number) => x.d[(y * x.w + xx) * x.c + c];

function zeroPad(x: Img, t: number, b: number, l: number, r: number): Img {
  const out: Img = { h: x.h + t + b, w: x.w + l + r, c: x.c, d: new Float64Array((x.h + t + b) * (x.w + l + r) * x.c) };
  for (let y = 0; y < x.h; y++) for (let xx = 0; xx < x.w; xx++) for (let c = 0; c < x.c; c++) out.d[((y + t) * out.w + xx + l) * x.c + c] = at(x, y, xx, c);
  return out;
}

function conv(x0: Img, kernel: Float32Array, kshape: number[], bias: Float32Array, stride: number, padding: string): Img {
  const [k, , cin, cout] = kshape;
  const x = padding === 'same' ? zeroPad(x0, (k - 1) / 2, (k - 1) / 2, (k - 1) / 2, (k - 1) / 2) : x0;
  const oh = Math.floor((x.h - k) / stride) + 1;
  const ow = Math.floor((x.w - k) / stride) + 1;
  const out: Img = { h: oh, w: ow, c: cout, d: new Float64Array(oh * ow * cout) };
  for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) for (let o = 0; o < cout; o++) {
    let s = bias[o];
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) for (let c = 0; c < cin; c++) s += at(x, y * stride + i, xx * stride + j, c) * kernel[((i * k + j) * cin + c) * cout + o];
    out.d[(y * ow + xx) * cout + o] = s;
  }
  return out;
}

/** Runs the Keras model on one NHWC image; returns every layer's output (2-D outputs as h = w = 1). */
export function kerasForward(m: TinyKeras, image: Img): Map<string, Img> {
  const W = new Map(m.weights.map((w) => [w.name, w]));
  const vals = new Map<string, Img>([['input_1', image]]);
  const map = (x: Img, f: (v: number, c: number) => number): Img => ({ ...x, d: x.d.map((v, i) => f(v, i % x.c)) });
  for (const l of m.layers.slice(1)) {
    const xs = l.inputs.map((i) => vals.get(i)!);
    const x = xs[0];
    const cfg = l.config;
    const act = (y: Img, a: unknown) => (a === 'relu' ? map(y, (v) => Math.max(0, v)) : y);
    let y: Img;
    switch (l.class_name) {
      case 'ZeroPadding2D': {
        const p = cfg.padding as number[][];
        y = zeroPad(x, p[0][0], p[0][1], p[1][0], p[1][1]);
        break;
      }
      case 'Conv2D':
        y = act(conv(x, W.get(`${l.name}/kernel`)!.data, W.get(`${l.name}/kernel`)!.shape, W.get(`${l.name}/bias`)!.data, (cfg.strides as number[])[0], cfg.padding as string), cfg.activation);
        break;
      case 'BatchNormalization': {
        const g = W.get(`${l.name}/gamma`)!.data, b = W.get(`${l.name}/beta`)!.data;
        const mu = W.get(`${l.name}/moving_mean`)!.data, v = W.get(`${l.name}/moving_variance`)!.data;
        y = map(x, (val, c) => g[c] * (val - mu[c]) / Math.sqrt(v[c] + (cfg.epsilon as number)) + b[c]);
        break;
      }
      case 'Activation':
        y = cfg.activation === 'softmax' ? x : act(x, cfg.activation); // logits: the output softmax is left out
        break;
      case 'MaxPooling2D': {
        const k = (cfg.pool_size as number[])[0], s = (cfg.strides as number[])[0];
        const oh = Math.floor((x.h - k) / s) + 1, ow = Math.floor((x.w - k) / s) + 1;
        y = { h: oh, w: ow, c: x.c, d: new Float64Array(oh * ow * x.c).fill(-Infinity) };
        for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let c = 0; c < x.c; c++) for (let a = 0; a < k; a++) for (let bb = 0; bb < k; bb++) {
          const idx = (i * ow + j) * x.c + c;
          y.d[idx] = Math.max(y.d[idx], at(x, i * s + a, j * s + bb, c));
        }
        break;
      }
      case 'Add':
        y = { ...x, d: x.d.map((v, i) => xs.reduce((s, z) => s + z.d[i], 0)) };
        break;
      case 'GlobalAveragePooling2D': {
        const d = new Float64Array(x.c);
        for (let i = 0; i < x.h * x.w; i++) for (let c = 0; c < x.c; c++) d[c] += x.d[i * x.c + c] / (x.h * x.w);
        y = { h: 1, w: 1, c: x.c, d };
        break;
      }
      case 'Flatten':
        y = { h: 1, w: 1, c: x.d.length, d: x.d.slice() }; // NHWC order
        break;
      case 'Dense': {
        const k = W.get(`${l.name}/kernel`)!, b = W.get(`${l.name}/bias`)!.data;
        const [nin, nout] = k.shape;
        const d = new Float64Array(nout);
        for (let o = 0; o < nout; o++) {
          d[o] = b[o];
          for (let i = 0; i < nin; i++) d[o] += x.d[i] * k.data[i * nout + o];
        }
        y = act({ h: 1, w: 1, c: nout, d }, cfg.activation === 'softmax' ? 'linear' : cfg.activation);
        break;
      }
      default:
        throw new Error(`reference: no ${l.class_name}`);
    }
    vals.set(l.name, y);
  }
  return vals;
}

/** NCHW batch (ONNX input) → NHWC image k, with a per-channel affine and order (Keras channel c = scale·x[from] + shift). */
export function toKerasInput(nchw: Float32Array, k: number, [h, w, c]: [number, number, number], affine?: { from: number; scale: number; shift: number }[]): Img {
  const out: Img = { h, w, c, d: new Float64Array(h * w * c) };
  for (let ch = 0; ch < c; ch++) {
    const a = affine?.[ch] ?? { from: ch, scale: 1, shift: 0 };
    for (let i = 0; i < h * w; i++) out.d[i * c + ch] = a.scale * nchw[k * c * h * w + a.from * h * w + i] + a.shift;
  }
  return out;
}
