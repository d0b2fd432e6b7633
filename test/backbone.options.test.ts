import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backbone } from '../src/backbone/backbone.js';
import { ModelError } from '../src/errors.js';
import { SYNTHETIC_SQUEEZENET, skipNoShared } from './helpers/shared.js';

test('asking for CUDA where it is not available falls back to the CPU with a warning', { skip: skipNoShared }, async () => {
  const warnings: string[] = [];
  const b = await Backbone.load('squeezenet1_1', { path: SYNTHETIC_SQUEEZENET, device: 'cuda', warn: (m) => warnings.push(m) });
  try {
    // this machine has no CUDA provider: onnxruntime throws, deep-covid falls back
    if (b.device === 'cpu') assert.match(warnings.join('\n'), /CUDA is not available.*CPU/);
    const out = await b.run(new Float32Array(b.imageLength), 1, { pooled: true });
    assert.equal(out.pooled!.length, 512);
  } finally {
    await b.release();
  }
});

test('a JSON manifest beside the .onnx overrides preprocessing and head settings; a broken one is a clear error', { skip: skipNoShared }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dc-sidecar-'));
  try {
    await symlink(SYNTHETIC_SQUEEZENET, join(dir, 'my-net.onnx'));
    await writeFile(join(dir, 'my-net.json'), JSON.stringify({ preprocess: { resizeShorter: 256, crop: [224, 224] }, head: { kind: 'squeezenet-conv', dropout: 0.3 } }));
    const b = await Backbone.load('my-net', { path: join(dir, 'my-net.onnx') });
    try {
      assert.equal(b.manifest.preprocess.resizeShorter, 256);
      assert.deepEqual(b.manifest.preprocess.mean, [0.485, 0.456, 0.406], 'unspecified fields keep the ImageNet defaults');
      assert.equal(b.manifest.head.dropout, 0.3);
      assert.equal(b.manifest.features.map, '/features/features.12/Concat_output_0', 'tensors still found by structure');
      assert.equal(b.weights, 'synthetic', 'provenance known by sha256 whatever the file name');
    } finally {
      await b.release();
    }
    await writeFile(join(dir, 'my-net.json'), '{ not json');
    await assert.rejects(Backbone.load('my-net', { path: join(dir, 'my-net.onnx') }), (e: unknown) => e instanceof ModelError && /my-net\.json is not valid JSON/.test((e as Error).message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
