import onnxProto from 'onnx-proto';
import { ModelError } from '../errors.js';

const { onnx } = onnxProto;
type Model = InstanceType<typeof onnx.ModelProto>;
// decoded messages are class instances whose repeated fields are always arrays
type Graph = InstanceType<typeof onnx.GraphProto>;
type Node = InstanceType<typeof onnx.NodeProto>;

/** The feature tensors of a classifier graph. */
export interface FeatureTensors {
  input: string;
  pooled: string | null;
  map: string | null;
}

/** Decodes ONNX bytes, with a clear error for files that are not ONNX models. */
export function decodeModel(bytes: Uint8Array, file: string): Model {
  try {
    const m = onnx.ModelProto.decode(bytes);
    if (!m.graph || (m.graph as Graph).node.length === 0) throw new Error('no graph nodes');
    return m;
  } catch (err) {
    throw new ModelError(`${file} is not a readable ONNX model (${(err as Error).message})`, { cause: err });
  }
}

/**
 * Finds the pooled feature vector and the last feature map of a torchvision-style classifier
 * by graph structure:
 * - graph outputs named `pooled` / `features` (deep-covid's own exports) win;
 * - pooled = first input of the last Gemm/MatMul (the classifier's input);
 * - map = input of the last GlobalAveragePool, except in SqueezeNet's layout where the pool
 *   follows Conv 1x1 → ReLU (the classifier conv): there the map is that conv's input.
 */
export function findFeatureTensors(model: Model): FeatureTensors {
  const g = model.graph as Graph;
  const initNames = new Set(g.initializer.map((t) => t.name));
  const input = g.input.map((i) => i.name!).find((n) => !initNames.has(n));
  if (!input) throw new ModelError('the graph has no image input');
  const outNames = new Set(g.output.map((o) => o.name!));
  const producer = new Map<string, Node>();
  for (const n of g.node as Node[]) for (const o of n.output) producer.set(o, n);

  let pooled: string | null = outNames.has('pooled') ? 'pooled' : null;
  let map: string | null = outNames.has('features') ? 'features' : null;

  const lastIndex = (ops: string[]) => {
    for (let i = g.node.length - 1; i >= 0; i--) if (ops.includes((g.node[i] as Node).opType)) return i;
    return -1;
  };
  const gapIdx = lastIndex(['GlobalAveragePool']);
  const gemmIdx = lastIndex(['Gemm', 'MatMul']);
  if (!pooled && gemmIdx >= 0 && gemmIdx > gapIdx) pooled = (g.node[gemmIdx] as Node).input[0];
  if (!map && gapIdx >= 0) {
    const x = (g.node[gapIdx] as Node).input[0];
    const relu = producer.get(x);
    const conv = relu?.opType === 'Relu' ? producer.get(relu.input[0]) : undefined;
    const classifierConv = conv?.opType === 'Conv' && gemmIdx < gapIdx && isPointwise(conv);
    map = classifierConv ? conv!.input[0] : x;
  }
  if (!pooled && !map) {
    throw new ModelError('cannot find the feature tensors: the graph has no GlobalAveragePool and no final Gemm (is it a torchvision-style classifier?)');
  }
  return { input, pooled, map };
}

function isPointwise(conv: { attribute: { name?: string | null; ints?: (number | Long)[] | null }[] }): boolean {
  const ks = conv.attribute.find((a) => a.name === 'kernel_shape');
  return !ks || (ks.ints ?? []).every((v) => Number(v) === 1);
}
type Long = { toNumber(): number };

/**
 * Adds internal tensors to the graph outputs (onnxruntime only returns graph outputs) and
 * returns the re-encoded model. Tensors that are already outputs are left alone.
 */
export function exposeOutputs(model: Model, names: string[]): Uint8Array {
  const g = model.graph as Graph;
  const have = new Set(g.output.map((o) => o.name));
  for (const name of names) {
    if (have.has(name)) continue;
    const produced = (g.node as Node[]).some((n) => n.output.includes(name));
    if (!produced) throw new ModelError(`tensor "${name}" is not produced by any node of the graph`);
    g.output.push(onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }));
  }
  return onnx.ModelProto.encode(model).finish();
}
