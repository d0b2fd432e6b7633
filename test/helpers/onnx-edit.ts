// Graph surgery for tests: rewrites a converted model the way the PyTorch reference was made, to
// show that the border convention of the input shift is the only difference from it.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

function floats(t: { rawData?: Uint8Array | null }): Float32Array {
  return new Float32Array(Uint8Array.from(t.rawData!).buffer);
}

/**
 * Removes the `input_shift` Add node and folds its per-channel shift into the first conv's bias
 * (bias += Σ W·shift): exact in the interior, but zero padding then pads the normalised input
 * instead of the Keras (Caffe) input.
 */
export function foldInputShiftIntoBias(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const g = model.graph!;
  const at = g.node!.findIndex((n) => n.name === 'input_shift');
  if (at < 0) throw new Error('no input_shift node');
  const [input, shiftName] = g.node![at].input!;
  const shifted = g.node![at].output![0];
  g.node!.splice(at, 1);
  const conv = g.node!.find((n) => n.input!.includes(shifted))!;
  conv.input = conv.input!.map((t) => (t === shifted ? input : t));
  const get = (name: string) => g.initializer!.find((t) => t.name === name)!;
  const shift = floats(get(shiftName));
  g.initializer = g.initializer!.filter((t) => t.name !== shiftName);
  const wt = get(conv.input[1]);
  const w = floats(wt);
  const bt = get(conv.input[2]);
  const b = floats(bt);
  const [cout, cin] = wt.dims!.map(Number);
  const per = w.length / (cout * cin);
  for (let o = 0; o < cout; o++) {
    let acc = 0;
    for (let c = 0; c < cin; c++) for (let k = 0; k < per; k++) acc += w[(o * cin + c) * per + k] * shift[c];
    b[o] += acc;
  }
  bt.rawData = new Uint8Array(b.buffer);
  return onnx.ModelProto.encode(model).finish();
}
