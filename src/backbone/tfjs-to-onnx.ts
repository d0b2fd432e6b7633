import onnxProto from 'onnx-proto';
import { ModelError } from '../errors.js';
import type { KerasLayer, TfjsLayersModel, TfjsWeight } from './tfjs-layers.js';

const { onnx } = onnxProto;
type NodeProto = InstanceType<typeof onnx.NodeProto>;
type TensorProto = InstanceType<typeof onnx.TensorProto>;
type AttributeProto = InstanceType<typeof onnx.AttributeProto>;

/**
 * Converts a functional Keras CNN read from a TensorFlow.js layers model into an ONNX graph
 * (opset 13, NCHW) with torchvision's node layout: Conv with BatchNorm folded into its weights and
 * bias, Relu, MaxPool, Add, GlobalAveragePool → Flatten → Gemm. The graph's outputs are `logits`
 * (a final softmax is dropped) and, when the model ends in a Dense layer, `pooled` (that layer's
 * input), which is what deep-covid's feature search looks for.
 *
 * Supported layers: InputLayer, ZeroPadding2D, Conv2D, BatchNormalization, Activation / ReLU
 * (relu, linear, softmax, sigmoid, tanh), MaxPooling2D, Add, GlobalAveragePooling2D, Flatten,
 * Dense, Dropout. Anything else is an error naming the layer.
 */

/** Channel k of the Keras model's input = scale · x[from] + shift, where x is the ONNX input. */
export interface InputChannelAffine {
  from: number;
  scale: number;
  shift: number;
}

/** Conversion options. */
export interface TfjsToOnnxOptions {
  /**
   * The preprocessing the Keras model expects, expressed on the ONNX input (e.g. Caffe's BGR,
   * 0–255, mean-subtracted input written in terms of ImageNet-normalised RGB). The channel
   * permutation and scale are folded into the first convolution's weights; the shift becomes one
   * Add node in front of it, so that the convolution's zero padding stays zero in the Keras
   * model's input space (folding the shift into the conv bias would be wrong at the borders).
   */
  inputAffine?: InputChannelAffine[];
  /** ONNX graph name (default: the Keras model's name). */
  graphName?: string;
  /** Stored in the file's doc_string. */
  docString?: string;
  /** Stored as the file's metadata_props (provenance, licence, ...). */
  metadata?: Record<string, string>;
}

/** The converter's version, stored in the file: a change to the output bytes must change it. */
export const TFJS_TO_ONNX_VERSION = '1';

/** A tensor of the graph under construction, as a Keras layer output maps onto it. */
interface Value {
  tensor: string;
  rank: 2 | 4;
  /** True when every element is ≥ 0 (after a ReLU), so zero padding equals a max-pool's -inf padding. */
  nonNegative: boolean;
  /** Zero padding still to apply, ONNX order [top, left, bottom, right]: merged into the next Conv or MaxPool when exact. */
  pad?: [number, number, number, number];
  /** Input scale and channel order still to fold into the next Conv (only on the image input). */
  affine?: InputChannelAffine[];
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const ATTR = onnx.AttributeProto.AttributeType;

function ints(name: string, v: number[]): AttributeProto {
  return onnx.AttributeProto.create({ name, ints: v, type: ATTR.INTS });
}
function int(name: string, v: number): AttributeProto {
  return onnx.AttributeProto.create({ name, i: v, type: ATTR.INT });
}
function float(name: string, v: number): AttributeProto {
  return onnx.AttributeProto.create({ name, f: v, type: ATTR.FLOAT });
}
function str(name: string, v: string): AttributeProto {
  return onnx.AttributeProto.create({ name, s: new TextEncoder().encode(v), type: ATTR.STRING });
}

function pair(v: unknown, what: string, layer: string): [number, number] {
  const a = Array.isArray(v) ? v.map(Number) : [Number(v), Number(v)];
  if (a.length !== 2 || a.some((x) => !Number.isInteger(x) || x < 0)) throw new ModelError(`layer "${layer}": ${what} ${JSON.stringify(v)} is not a pair of whole numbers`);
  return [a[0], a[1]];
}

/** Keras ZeroPadding2D padding → [top, bottom, left, right]. */
function zeroPadding(v: unknown, layer: string): [number, number, number, number] {
  if (Array.isArray(v) && v.length === 2 && Array.isArray(v[0])) {
    const [t, b] = pair(v[0], 'padding', layer);
    const [l, r] = pair(v[1], 'padding', layer);
    return [t, b, l, r];
  }
  const [h, w] = pair(v, 'padding', layer);
  return [h, h, w, w];
}

class Builder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly produced = new Set<string>();

  node(opType: string, name: string, inputs: string[], output: string, attribute: AttributeProto[] = []): string {
    if (this.produced.has(output)) throw new ModelError(`internal: tensor name "${output}" is produced twice (two layers with clashing names?)`);
    this.produced.add(output);
    this.nodes.push(onnx.NodeProto.create({ opType, name, input: inputs, output: [output], attribute }));
    return output;
  }

  floats(name: string, dims: number[], values: ArrayLike<number>): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    this.initializers.push(onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }));
    return name;
  }

  int64s(name: string, values: number[]): string {
    const data = BigInt64Array.from(values.map(BigInt));
    this.initializers.push(onnx.TensorProto.create({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(data.buffer) }));
    return name;
  }
}

/** BatchNorm parameters of a Keras layer, as per-channel scale s and offset t (y = s·x + t). */
function batchNormAffine(layer: KerasLayer, weight: (kind: string, n: number) => Float32Array): { s: Float64Array; t: Float64Array } {
  const c = layer.config;
  const eps = Number(c.epsilon ?? 1e-3);
  const mean = weight('moving_mean', -1);
  const n = mean.length;
  const variance = weight('moving_variance', n);
  const gamma = c.scale === false ? null : weight('gamma', n);
  const beta = c.center === false ? null : weight('beta', n);
  const s = new Float64Array(n);
  const t = new Float64Array(n);
  for (let o = 0; o < n; o++) {
    s[o] = (gamma ? gamma[o] : 1) / Math.sqrt(variance[o] + eps);
    t[o] = (beta ? beta[o] : 0) - mean[o] * s[o];
  }
  return { s, t };
}

/** Converts a TensorFlow.js layers model to ONNX bytes. Deterministic: the same model and options give the same bytes. */
export function tfjsLayersToOnnx(model: TfjsLayersModel, opts: TfjsToOnnxOptions = {}): Uint8Array {
  if (model.inputLayers.length !== 1 || model.outputLayers.length !== 1) {
    throw new ModelError(`model "${model.name}" has ${model.inputLayers.length} inputs and ${model.outputLayers.length} outputs; only single-input, single-output classifiers are supported`);
  }
  const b = new Builder();
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const consumers = new Map<string, KerasLayer[]>();
  for (const l of model.layers) for (const i of l.inputs) consumers.set(i, [...(consumers.get(i) ?? []), l]);
  // Conv2D (linear) → BatchNormalization pairs whose BN can be folded into the conv
  const foldedBn = new Map<string, KerasLayer>();
  for (const l of model.layers) {
    if (l.className !== 'BatchNormalization' || l.inputs.length !== 1) continue;
    const conv = byName.get(l.inputs[0]);
    if (conv?.className === 'Conv2D' && (conv.config.activation ?? 'linear') === 'linear' && consumers.get(conv.name)?.length === 1) foldedBn.set(conv.name, l);
  }
  const outputLayer = model.outputLayers[0];
  const values = new Map<string, Value>();
  let graphInput: { h: number | null; w: number | null; c: number } | null = null;

  const weightOf = (layer: KerasLayer) => (kind: string, n: number): Float32Array => {
    const w: TfjsWeight | undefined = model.weights.get(`${layer.name}/${kind}`);
    if (!w) throw new ModelError(`layer "${layer.name}": weight ${layer.name}/${kind} is missing from the weights manifest`);
    if (n >= 0 && w.data.length !== n) throw new ModelError(`layer "${layer.name}": weight ${w.name} has ${w.data.length} values, expected ${n}`);
    return w.data;
  };

  /** Applies pending zero padding as an explicit Pad node (when it could not be merged). */
  const materialise = (v: Value, layer: string): Value => {
    if (v.affine) throw new ModelError(`layer "${layer}": the input preprocessing can only be folded into a first Conv2D layer`);
    if (!v.pad) return v;
    const [t, l, bo, r] = v.pad;
    const pads = b.int64s(`${layer}.pads`, [0, 0, t, l, 0, 0, bo, r]);
    const tensor = b.node('Pad', `${layer}/pad`, [v.tensor, pads], `${v.tensor}_padded`, [str('mode', 'constant')]);
    return { tensor, rank: v.rank, nonNegative: v.nonNegative };
  };

  /** An activation: its own layer (`fused` false: node and tensor take the layer's name) or fused into a Conv2D/Dense. */
  const activation = (kind: unknown, v: Value, layer: string, fused: boolean): Value => {
    const k = String(kind ?? 'linear');
    if (k === 'linear' || (k === 'softmax' && layer === outputLayer)) return v; // the output softmax is dropped: the graph gives logits
    const op = { relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh', softmax: 'Softmax' }[k];
    if (!op) throw new ModelError(`layer "${layer}": activation "${k}" is not supported (relu, linear, softmax, sigmoid, tanh)`);
    v = materialise(v, layer);
    const attrs = op === 'Softmax' ? [int('axis', 1)] : [];
    const tensor = b.node(op, fused ? `${layer}/${k}` : layer, [v.tensor], fused ? `${layer}_${k}` : layer, attrs);
    return { tensor, rank: v.rank, nonNegative: op !== 'Tanh' };
  };

  const conv2d = (layer: KerasLayer, input: Value): Value => {
    const c = layer.config;
    if ((c.data_format ?? 'channels_last') !== 'channels_last') throw new ModelError(`layer "${layer.name}": only channels_last Conv2D is supported`);
    if (c.groups !== undefined && Number(c.groups) !== 1) throw new ModelError(`layer "${layer.name}": grouped convolutions are not supported`);
    const kernel = model.weights.get(`${layer.name}/kernel`);
    if (!kernel || kernel.shape.length !== 4) throw new ModelError(`layer "${layer.name}": weight ${layer.name}/kernel [kh, kw, in, out] is missing`);
    const [kh, kw, cin, cout] = kernel.shape;
    const strides = pair(c.strides ?? 1, 'strides', layer.name);
    const dil = pair(c.dilation_rate ?? 1, 'dilation_rate', layer.name);
    const bias = c.use_bias === false ? null : weightOf(layer)('bias', cout);
    // per input channel: where it comes from in the ONNX input and by what it is scaled
    const affine = input.affine;
    if (affine && affine.length !== cin) throw new ModelError(`layer "${layer.name}": the input preprocessing has ${affine.length} channels, the convolution takes ${cin}`);
    const bn = foldedBn.get(layer.name);
    const norm = bn ? batchNormAffine(bn, weightOf(bn)) : { s: new Float64Array(cout).fill(1), t: new Float64Array(cout) };
    if (norm.s.length !== cout) throw new ModelError(`layer "${bn!.name}": ${norm.s.length} channels after a ${cout}-filter convolution`);
    // Keras [kh, kw, in, out] → ONNX [out, in, kh, kw], scaled by BN (per output) and the input scale (per input)
    const w = new Float32Array(cout * cin * kh * kw);
    const src = kernel.data;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        for (let k = 0; k < cin; k++) {
          const ci = affine ? affine[k].from : k;
          const sk = affine ? affine[k].scale : 1;
          const at = (i * kw + j) * cin + k;
          for (let o = 0; o < cout; o++) w[((o * cin + ci) * kh + i) * kw + j] = src[at * cout + o] * sk * norm.s[o];
        }
      }
    }
    const bOut = new Float64Array(cout);
    for (let o = 0; o < cout; o++) bOut[o] = (bias ? bias[o] : 0) * norm.s[o] + norm.t[o];

    let x: Value = { ...input, affine: undefined };
    const attrs = [ints('dilations', dil), int('group', 1), ints('kernel_shape', [kh, kw])];
    const same = c.padding === 'same';
    if (c.padding !== 'valid' && !same) throw new ModelError(`layer "${layer.name}": padding "${String(c.padding)}" is not supported`);
    const symmetricSame = same && strides[0] === 1 && strides[1] === 1 && kh % 2 === 1 && kw % 2 === 1;
    if (same && !symmetricSame) {
      x = materialise(x, layer.name);
      attrs.push(str('auto_pad', 'SAME_UPPER')); // TensorFlow's SAME: the extra row/column goes at the end
    } else {
      const [ph, pw] = symmetricSame ? [(dil[0] * (kh - 1)) / 2, (dil[1] * (kw - 1)) / 2] : [0, 0];
      const p = x.pad ?? [0, 0, 0, 0];
      attrs.push(ints('pads', [p[0] + ph, p[1] + pw, p[2] + ph, p[3] + pw]));
    }
    attrs.push(ints('strides', strides));
    const inputs = [x.tensor, b.floats(`${layer.name}.weight`, [cout, cin, kh, kw], w), b.floats(`${layer.name}.bias`, [cout], bOut)];
    const out: Value = { tensor: b.node('Conv', layer.name, inputs, bn ? bn.name : layer.name, attrs), rank: 4, nonNegative: false };
    if (bn) values.set(bn.name, out);
    return activation(c.activation, out, layer.name, true);
  };

  const handlers: Record<string, (layer: KerasLayer, inputs: Value[]) => Value> = {
    ZeroPadding2D: (layer, [x]) => {
      const [t, bo, l, r] = zeroPadding(layer.config.padding, layer.name);
      const p = x.pad ?? [0, 0, 0, 0];
      return { ...x, pad: [p[0] + t, p[1] + l, p[2] + bo, p[3] + r] };
    },
    Conv2D: (layer, [x]) => conv2d(layer, x),
    BatchNormalization: (layer, [x0]) => {
      const c = layer.config;
      const axis = Number(Array.isArray(c.axis) ? c.axis[0] : c.axis ?? -1);
      if (!(axis === -1 || axis === x0.rank - 1)) throw new ModelError(`layer "${layer.name}": BatchNormalization over axis ${axis} is not supported (only the channel axis)`);
      const x = materialise(x0, layer.name);
      const weight = weightOf(layer);
      const mean = weight('moving_mean', -1);
      const n = mean.length;
      const inputs = [
        x.tensor,
        b.floats(`${layer.name}.weight`, [n], c.scale === false ? new Float32Array(n).fill(1) : weight('gamma', n)),
        b.floats(`${layer.name}.bias`, [n], c.center === false ? new Float32Array(n) : weight('beta', n)),
        b.floats(`${layer.name}.running_mean`, [n], mean),
        b.floats(`${layer.name}.running_var`, [n], weight('moving_variance', n)),
      ];
      return { tensor: b.node('BatchNormalization', layer.name, inputs, layer.name, [float('epsilon', Number(c.epsilon ?? 1e-3))]), rank: x.rank, nonNegative: false };
    },
    Activation: (layer, [x]) => activation(layer.config.activation, x, layer.name, false),
    ReLU: (layer, [x]) => {
      const c = layer.config;
      if ((c.max_value ?? null) !== null || Number(c.negative_slope ?? 0) !== 0 || Number(c.threshold ?? 0) !== 0) throw new ModelError(`layer "${layer.name}": only the plain ReLU is supported (no max_value, slope or threshold)`);
      return activation('relu', x, layer.name, false);
    },
    MaxPooling2D: (layer, [x0]) => {
      const c = layer.config;
      const size = pair(c.pool_size, 'pool_size', layer.name);
      const strides = pair(c.strides ?? c.pool_size, 'strides', layer.name);
      const attrs = [ints('kernel_shape', size)];
      let x = x0;
      if (c.padding === 'same') {
        x = materialise(x, layer.name);
        attrs.push(str('auto_pad', 'SAME_UPPER'));
      } else {
        // MaxPool pads with -inf: the same as Keras's zero padding only when the input is ≥ 0. An explicit
        // Pad is no way out: onnxruntime's optimiser folds Pad(0) into MaxPool's pads all the same.
        if (x.pad && !x.nonNegative) {
          throw new ModelError(`layer "${layer.name}": zero padding before a max pool of values that can be negative is not supported (only after a ReLU)`);
        }
        attrs.push(ints('pads', x.pad ?? [0, 0, 0, 0]));
      }
      attrs.push(ints('strides', strides));
      return { tensor: b.node('MaxPool', layer.name, [x.tensor], layer.name, attrs), rank: 4, nonNegative: x.nonNegative };
    },
    Add: (layer, xs0) => {
      const xs = xs0.map((v) => materialise(v, layer.name));
      if (xs.length < 2 || xs.some((v) => v.rank !== xs[0].rank)) throw new ModelError(`layer "${layer.name}": Add needs two or more inputs of the same rank`);
      let acc = xs[0].tensor;
      for (let i = 1; i < xs.length; i++) acc = b.node('Add', i === xs.length - 1 ? layer.name : `${layer.name}/${i}`, [acc, xs[i].tensor], i === xs.length - 1 ? layer.name : `${layer.name}_${i}`);
      return { tensor: acc, rank: xs[0].rank, nonNegative: xs.every((v) => v.nonNegative) };
    },
    GlobalAveragePooling2D: (layer, [x0]) => {
      if (layer.config.keepdims === true) throw new ModelError(`layer "${layer.name}": GlobalAveragePooling2D with keepdims is not supported`);
      const x = materialise(x0, layer.name);
      const pooled = b.node('GlobalAveragePool', layer.name, [x.tensor], layer.name);
      return { tensor: b.node('Flatten', `${layer.name}/flatten`, [pooled], `${layer.name}_flat`, [int('axis', 1)]), rank: 2, nonNegative: x.nonNegative };
    },
    Flatten: (layer, [x0]) => {
      const x = materialise(x0, layer.name);
      if (x.rank === 2) return x;
      // Keras flattens NHWC: go back to that order first
      const nhwc = b.node('Transpose', `${layer.name}/nhwc`, [x.tensor], `${layer.name}_nhwc`, [ints('perm', [0, 2, 3, 1])]);
      return { tensor: b.node('Flatten', layer.name, [nhwc], layer.name, [int('axis', 1)]), rank: 2, nonNegative: x.nonNegative };
    },
    Dense: (layer, [x0]) => {
      const x = materialise(x0, layer.name);
      if (x.rank !== 2) throw new ModelError(`layer "${layer.name}": Dense on a ${x.rank}-d tensor is not supported (flatten or pool first)`);
      const kernel = model.weights.get(`${layer.name}/kernel`);
      if (!kernel || kernel.shape.length !== 2) throw new ModelError(`layer "${layer.name}": weight ${layer.name}/kernel [in, out] is missing`);
      const [nin, nout] = kernel.shape;
      const w = new Float32Array(nout * nin);
      for (let i = 0; i < nin; i++) for (let o = 0; o < nout; o++) w[o * nin + i] = kernel.data[i * nout + o];
      const bias = layer.config.use_bias === false ? new Float32Array(nout) : weightOf(layer)('bias', nout);
      const inputs = [x.tensor, b.floats(`${layer.name}.weight`, [nout, nin], w), b.floats(`${layer.name}.bias`, [nout], bias)];
      const out: Value = { tensor: b.node('Gemm', layer.name, inputs, layer.name, [float('alpha', 1), float('beta', 1), int('transB', 1)]), rank: 2, nonNegative: false };
      return activation(layer.config.activation, out, layer.name, true);
    },
    Dropout: (_layer, [x]) => x,
  };

  for (const layer of model.layers) {
    if (layer.className === 'InputLayer') {
      const shape = (layer.config.batch_input_shape ?? layer.config.batch_shape) as (number | null)[] | undefined;
      if (!shape || shape.length !== 4 || !shape[3]) throw new ModelError(`input layer "${layer.name}" must be an image [N, H, W, C] with a known channel count`);
      if (graphInput) throw new ModelError('only single-input models are supported');
      graphInput = { h: shape[1], w: shape[2], c: shape[3] };
      let v: Value = { tensor: 'input', rank: 4, nonNegative: false };
      if (opts.inputAffine) {
        const aff = opts.inputAffine;
        const perm = aff.map((a) => a.from).sort((p, q) => p - q);
        if (aff.length !== graphInput.c || perm.some((p, i) => p !== i) || aff.some((a) => !(a.scale !== 0 && Number.isFinite(a.scale) && Number.isFinite(a.shift)))) {
          throw new ModelError(`the input preprocessing must map each of the ${graphInput.c} input channels once, with finite non-zero scales`);
        }
        // Keras input = scale · (x + shift / scale): the shift here, the scale (and order) in the conv
        const shift = new Float64Array(graphInput.c);
        for (const a of aff) shift[a.from] = a.shift / a.scale;
        if (shift.some((s) => s !== 0)) v = { ...v, tensor: b.node('Add', 'input_shift', ['input', b.floats('input_shift.value', [1, graphInput.c, 1, 1], shift)], 'input_shifted') };
        v.affine = aff;
      }
      values.set(layer.name, v);
      continue;
    }
    if (values.has(layer.name)) continue; // a BatchNormalization already folded into its conv
    const handler = handlers[layer.className];
    if (!handler) throw new ModelError(`layer "${layer.name}" of class ${layer.className} is not supported by the converter (supported: InputLayer, ${Object.keys(handlers).join(', ')})`);
    const inputs = layer.inputs.map((n) => {
      const v = values.get(n);
      if (!v) throw new ModelError(`layer "${layer.name}" takes "${n}", which comes later or does not exist`);
      return v;
    });
    if (inputs.length === 0) throw new ModelError(`layer "${layer.name}" has no inputs`);
    if (layer.className !== 'Add' && inputs.length !== 1) throw new ModelError(`layer "${layer.name}" takes ${inputs.length} inputs; expected 1`);
    if (inputs.some((v) => v.affine) && layer.className !== 'Conv2D' && layer.className !== 'ZeroPadding2D') {
      throw new ModelError(`layer "${layer.name}" (${layer.className}) reads the image input: the input preprocessing can only be folded into a first Conv2D layer`);
    }
    values.set(layer.name, handler(layer, inputs));
  }
  if (!graphInput) throw new ModelError(`model "${model.name}" has no InputLayer`);
  const outValue = values.get(outputLayer);
  if (!outValue) throw new ModelError(`output layer "${outputLayer}" is not in the model`);
  const final = materialise(outValue, outputLayer);

  // Rename the output to `logits` and, for a Dense classifier, its input to `pooled`.
  const rename = new Map<string, string>([[final.tensor, 'logits']]);
  const last = b.nodes[b.nodes.length - 1];
  const pooled = last.opType === 'Gemm' && last.output[0] === final.tensor ? last.input[0] : null;
  if (pooled) rename.set(pooled, 'pooled');
  for (const n of b.nodes) {
    n.input = n.input.map((t) => rename.get(t) ?? t);
    n.output = n.output.map((t) => rename.get(t) ?? t);
  }
  const gi = graphInput as { h: number | null; w: number | null; c: number };
  const dim = (v: number | null, p: string) => (v ? { dimValue: v } : { dimParam: p });
  const info = (name: string, dims?: ({ dimValue: number } | { dimParam: string })[]) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: FLOAT, ...(dims ? { shape: { dim: dims } } : {}) } } });
  // the classifier's weight is [classes, features]
  const fc = pooled ? b.initializers.find((t) => t.name === last.input[1])!.dims.map(Number) : null;
  const output = fc ? [info('logits', [{ dimParam: 'N' }, { dimValue: fc[0] }]), info('pooled', [{ dimParam: 'N' }, { dimValue: fc[1] }])] : [info('logits')];
  const graph = onnx.GraphProto.create({
    name: opts.graphName ?? model.name,
    node: b.nodes,
    initializer: b.initializers,
    input: [info('input', [{ dimParam: 'N' }, { dimValue: gi.c }, dim(gi.h, 'H'), dim(gi.w, 'W')])],
    output,
  });
  const metadata = { converter: `deep-covid tfjs-to-onnx ${TFJS_TO_ONNX_VERSION}`, ...(model.generatedBy ? { source_generated_by: model.generatedBy } : {}), ...(opts.metadata ?? {}) };
  const proto = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'deep-covid',
    docString: opts.docString ?? '',
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
  });
  return onnx.ModelProto.encode(proto).finish();
}
