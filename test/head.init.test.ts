import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelError } from '../src/errors.js';
import { createHead, headFromJSON, headToJSON, type HeadSpec } from '../src/head/index.js';

// PyTorch-default initialisation, determinism and JSON round trip of heads.
const PRESETS: Record<string, HeadSpec> = {
  resnet18: { kind: 'linear', inChannels: 512, dropout: 0 },
  resnet50: { kind: 'linear', inChannels: 2048, dropout: 0 },
  mobilenetv2: { kind: 'linear', inChannels: 1280, dropout: 0.2 },
  squeezenet11: { kind: 'squeezenet-conv', inChannels: 512, spatial: [13, 13], dropout: 0.5 },
};

test('weights and bias lie in U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and fill the range', () => {
  for (const spec of [PRESETS.mobilenetv2, PRESETS.squeezenet11]) {
    const h = createHead(spec, 42);
    const bound = 1 / Math.sqrt(spec.inChannels);
    assert.equal(h.weight.length, 2 * spec.inChannels);
    assert.equal(h.bias.length, 2);
    let min = Infinity, max = -Infinity, sum = 0;
    for (const v of h.weight) {
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
    }
    assert.ok(min >= -bound && max < bound, 'inside the bound');
    assert.ok(min < -0.98 * bound && max > 0.98 * bound, 'reaches both ends');
    assert.ok(Math.abs(sum / h.weight.length) < 0.05 * bound, 'centred');
    for (const b of h.bias) assert.ok(Math.abs(b) <= bound);
  }
});

test('same seed gives identical weights, another seed different ones', () => {
  const a = createHead(PRESETS.resnet18, 7);
  const b = createHead(PRESETS.resnet18, 7);
  const c = createHead(PRESETS.resnet18, 8);
  assert.deepEqual(a.weight, b.weight);
  assert.deepEqual(a.bias, b.bias);
  assert.notDeepEqual(a.weight, c.weight);
});

test('JSON round trip is exact', () => {
  const h = createHead(PRESETS.squeezenet11, 3);
  const back = headFromJSON(JSON.parse(JSON.stringify(headToJSON(h))));
  assert.deepEqual(back, h);
  assert.deepEqual(headToJSON(h).spatial, [13, 13]);
  assert.equal(headToJSON(createHead(PRESETS.resnet50, 1)).spatial, undefined);
});

test('headFromJSON rejects broken heads with ModelError naming the source', () => {
  const good = headToJSON(createHead({ kind: 'linear', inChannels: 4, dropout: 0 }, 1));
  assert.throws(() => headFromJSON({ ...good, weight: [1, 2] }, 'run/head.json'), (e: unknown) =>
    e instanceof ModelError && /run\/head\.json/.test(e.message) && /weight/.test(e.message));
  assert.throws(() => headFromJSON({ ...good, kind: 'mlp' }), ModelError);
  assert.throws(() => headFromJSON({ ...good, bias: [0, Number.NaN] }), ModelError);
  assert.throws(() => headFromJSON(null), ModelError);
});
