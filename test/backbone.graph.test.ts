import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { ModelError } from '../src/errors.js';
import { decodeModel, exposeOutputs, findFeatureTensors } from '../src/backbone/graph.js';
import { MODELS_DIR, skipNoShared } from './helpers/shared.js';

function readModelBytes(file: string): Uint8Array {
  const raw = readFileSync(join(MODELS_DIR, file));
  return file.endsWith('.gz') ? gunzipSync(raw) : raw;
}

describe('findFeatureTensors on the shared models (README table)', { skip: skipNoShared }, () => {
  // [file, pooled, map]; the map is the input of the GlobalAveragePool (what gets pooled)
  const table: [string, string | null, string][] = [
    ['squeezenet1_1.onnx', 'pooled', 'features'],
    ['mobilenet_v2.onnx', 'pooled', 'features'],
    ['synthetic/resnet18.onnx', '/Flatten_output_0', '/layer4/layer4.1/relu_1/Relu_output_0'],
    ['synthetic/resnet50.onnx.gz', '/Flatten_output_0', '/layer4/layer4.2/relu_2/Relu_output_0'],
    // the README lists norm5's output and says /Relu_output_0 is the same after ReLU, which is what is pooled
    ['synthetic/densenet121.onnx', '/Flatten_output_0', '/Relu_output_0'],
    ['synthetic/squeezenet1_1.onnx', null, '/features/features.12/Concat_output_0'],
  ];
  for (const [file, pooled, map] of table) {
    test(file, () => {
      const model = decodeModel(readModelBytes(file), file);
      assert.deepEqual(findFeatureTensors(model), { input: 'input', pooled, map });
      if (file.includes('densenet')) {
        // /Relu_output_0 is ReLU(norm5), i.e. the torchvision features output after the final ReLU
        const relu = model.graph!.node!.find((n) => n.output!.includes('/Relu_output_0'))!;
        assert.equal(relu.opType, 'Relu');
        assert.equal(relu.input![0], '/features/norm5/BatchNormalization_output_0');
      }
    });
  }
});

describe('exposeOutputs', { skip: skipNoShared }, () => {
  test('added outputs are returned by onnxruntime (synthetic squeezenet map; resnet18 pooled and map)', async () => {
    const sq = decodeModel(readModelBytes('synthetic/squeezenet1_1.onnx'), 'sq');
    const mapName = '/features/features.12/Concat_output_0';
    const bytes = exposeOutputs(sq, [mapName]);
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    assert.ok(session.outputNames.includes(mapName));
    assert.ok(session.outputNames.includes('logits'), 'existing outputs are kept');
    const input = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i) * 0.5);
    const out = await session.run({ input: new ort.Tensor('float32', input, [1, 3, 224, 224]) }, [mapName]);
    assert.deepEqual(out[mapName].dims.map(Number), [1, 512, 13, 13]);
    await session.release();

    const rn = decodeModel(readModelBytes('synthetic/resnet18.onnx'), 'rn');
    const { pooled, map } = findFeatureTensors(rn);
    const rs = await ort.InferenceSession.create(exposeOutputs(rn, [pooled!, map!]), { intraOpNumThreads: 2 });
    const r = await rs.run({ input: new ort.Tensor('float32', input, [1, 3, 224, 224]) }, [pooled!, map!]);
    assert.deepEqual(r[pooled!].dims.map(Number), [1, 512]);
    assert.deepEqual(r[map!].dims.map(Number), [1, 512, 7, 7]);
    // the pooled vector is the global average of the map (GlobalAveragePool → Flatten)
    const p = r[pooled!].data as Float32Array;
    const m = r[map!].data as Float32Array;
    for (let c = 0; c < 512; c++) {
      let s = 0;
      for (let k = 0; k < 49; k++) s += m[c * 49 + k];
      assert.ok(Math.abs(s / 49 - p[c]) <= 1e-4 * (1 + Math.abs(p[c])), `channel ${c}`);
    }
    await rs.release();
  });

  test('a tensor no node produces is a ModelError', () => {
    const sq = decodeModel(readModelBytes('synthetic/squeezenet1_1.onnx'), 'sq');
    assert.throws(() => exposeOutputs(sq, ['no-such-tensor']), ModelError);
  });

  test('an output that already exists is not added twice', () => {
    const m = decodeModel(readModelBytes('squeezenet1_1.onnx'), 'sq');
    const before = m.graph!.output!.length;
    const again = onnxProto.onnx.ModelProto.decode(exposeOutputs(m, ['features', 'pooled']));
    assert.equal(again.graph!.output!.length, before);
  });
});

describe('decodeModel', () => {
  test('a non-ONNX file gives ModelError naming the file', () => {
    assert.throws(() => decodeModel(new TextEncoder().encode('this is not a model\n'), '/tmp/x.onnx'),
      (e: unknown) => e instanceof ModelError && e.message.includes('/tmp/x.onnx'));
    assert.throws(() => decodeModel(new Uint8Array(0), 'empty.onnx'), ModelError);
  });

  test('a graph with no pooling and no Gemm has no feature tensors', () => {
    const { onnx } = onnxProto;
    const model = onnx.ModelProto.create({
      irVersion: 7,
      graph: {
        name: 'g',
        node: [{ opType: 'Relu', input: ['x'], output: ['y'] }],
        input: [{ name: 'x' }],
        output: [{ name: 'y' }],
      },
    });
    const decoded = decodeModel(onnx.ModelProto.encode(model).finish(), 'tiny');
    assert.throws(() => findFeatureTensors(decoded), ModelError);
  });
});
