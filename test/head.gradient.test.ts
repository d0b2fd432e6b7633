// Analytic gradients of every head kind (with and without a fixed dropout mask) against central
// finite differences of the weighted cross-entropy in float64.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConvKernel, createKernel, createHead, fillSparseMask, LinearKernel, mapsByPosition, sparseMaskPlan, type HeadKernel, fillDropoutMask, maskWords, type Head, type HeadSpec, type SampleMask } from '../src/head/index.js';
import { Rng } from '../src/util/rng.js';

const TARGETS = [0, 1, 1, 0];
const CLASS_WEIGHTS = [0.7, 1.6];

function setup(spec: HeadSpec, withMask: boolean, seed: number) {
  const rng = new Rng(seed);
  const head = createHead(spec, rng);
  // larger weights/bias so that both ReLU states occur in the conv head
  for (let i = 0; i < head.weight.length; i++) head.weight[i] *= 3;
  head.bias[0] = 0.05;
  head.bias[1] = -0.05;
  const k = createKernel(head);
  const x = new Float32Array(TARGETS.length * k.sampleSize);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const masks: (SampleMask | null)[] = TARGETS.map(() => {
    if (!withMask) return null;
    const bits = new Uint32Array(maskWords(k.layout));
    fillDropoutMask(bits, k.layout, spec.dropout, rng);
    return { bits, scale: 1 / (1 - spec.dropout) };
  });
  return { head, k, x, masks };
}

/** Batch loss (weighted mean) and, in k's accumulators, its gradient. */
function batchLoss(k: HeadKernel, x: Float32Array, masks: (SampleMask | null)[]): number {
  let wsum = 0;
  for (const t of TARGETS) wsum += CLASS_WEIGHTS[t];
  k.zeroGrad();
  let loss = 0;
  TARGETS.forEach((t, s) => {
    loss += k.accumulate(x, s, t, CLASS_WEIGHTS[t], 1 / wsum, masks[s]);
  });
  return loss / wsum;
}

function check(spec: HeadSpec, withMask: boolean, seed = 11): void {
  const { head, k, x, masks } = setup(spec, withMask, seed);
  batchLoss(k, x, masks);
  const analytic = [...k.gradWeight, ...k.gradBias];
  const params: [Float64Array, number][] = [];
  for (let i = 0; i < head.weight.length; i++) params.push([head.weight, i]);
  for (let i = 0; i < head.bias.length; i++) params.push([head.bias, i]);
  const h = 1e-6;
  let worst = 0;
  params.forEach(([arr, i], j) => {
    const keep = arr[i];
    arr[i] = keep + h;
    const lp = batchLoss(k, x, masks);
    arr[i] = keep - h;
    const lm = batchLoss(k, x, masks);
    arr[i] = keep;
    const numeric = (lp - lm) / (2 * h);
    const err = Math.abs(numeric - analytic[j]) / Math.max(1e-6, Math.abs(numeric) + Math.abs(analytic[j]));
    worst = Math.max(worst, err);
    assert.ok(err < 1e-5, `${spec.kind} param ${j}: analytic ${analytic[j]} vs numeric ${numeric}`);
  });
  assert.ok(analytic.some((g) => g !== 0), 'gradient is not all zero');
  assert.ok(worst < 1e-5);
}

test('linear head gradient, no dropout', () => check({ kind: 'linear', inChannels: 5, dropout: 0 }, false));
test('linear head gradient with a fixed dropout mask (p = 0.3, 40 channels: two mask words)', () =>
  check({ kind: 'linear', inChannels: 40, dropout: 0.3 }, true));
test('squeezenet-conv gradient, no dropout (C = 5: blocked and tail channels, 3x3)', () =>
  check({ kind: 'squeezenet-conv', inChannels: 5, spatial: [3, 3], dropout: 0 }, false));
test('squeezenet-conv gradient with a fixed dropout mask (p = 0.5, 6x7: two mask words per channel)', () =>
  check({ kind: 'squeezenet-conv', inChannels: 6, spatial: [6, 7], dropout: 0.5 }, true));
test('squeezenet-conv gradient with a fixed dropout mask (p = 0.25)', () =>
  check({ kind: 'squeezenet-conv', inChannels: 9, spatial: [3, 3], dropout: 0.25 }, true, 5));

test('masked forward equals the dense forward on explicitly masked and scaled input', () => {
  const spec: HeadSpec = { kind: 'squeezenet-conv', inChannels: 6, spatial: [5, 7], dropout: 0.5 };
  const { head, k, x, masks } = setup(spec, true, 3);
  const size = k.sampleSize;
  const p = 35;
  const words = k.layout.wordsPerRow;
  const plain: Head = { ...head, dropout: 0 };
  const k2 = createKernel(plain);
  for (let s = 0; s < TARGETS.length; s++) {
    const m = masks[s]!;
    const xs = new Float32Array(size);
    for (let c = 0; c < 6; c++) {
      for (let q = 0; q < p; q++) {
        const kept = (m.bits[c * words + (q >>> 5)] >>> (q & 31)) & 1;
        xs[c * p + q] = kept ? x[s * size + c * p + q] * 2 : 0;
      }
    }
    k.forward(x, s, m);
    k2.forward(xs, 0, null);
    for (let o = 0; o < 2; o++) assert.ok(Math.abs(k.logits[o] - k2.logits[o]) < 1e-12, `sample ${s} logit ${o}`);
  }
});

for (const [p, channels, count] of [[0.2, 70, 11], [0, 64, 8], [0.5, 33, 3]] as const) {
  test(`accumulateLinearBatch equals accumulate() per sample bit for bit (p = ${p}, C = ${channels}, ${count} samples)`, () => {
    const spec: HeadSpec = { kind: 'linear', inChannels: channels, dropout: p };
    const rng = new Rng(21);
    const head = createHead(spec, rng);
    head.bias[0] = 0.1;
    const n = 15;
    const x = new Float32Array(n * channels);
    for (let i = 0; i < x.length; i++) x[i] = rng.next() < 0.3 ? 0 : rng.normal();
    const labels = Uint8Array.from({ length: n }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0);
    const samples = Int32Array.from({ length: count }, (_, i) => (i * 4 + 3) % n);
    const cw = [0.8, 1.7];
    const one = new LinearKernel(head);
    const batch = new LinearKernel(head);
    const words = one.layout.wordsPerRow;
    const bits = new Uint32Array(count * words);
    for (let i = 0; i < count; i++) fillDropoutMask(bits.subarray(i * words, (i + 1) * words), one.layout, p, rng);
    for (const k of [one, batch]) {
      k.zeroGrad();
      k.gradWeight[3] = 0.25; // accumulates onto existing gradients
    }
    let loss = 0;
    for (let i = 0; i < count; i++) {
      const s = samples[i];
      const mask = p > 0 ? { bits: bits.subarray(i * words, (i + 1) * words), scale: 1 / (1 - p) } : null;
      loss += one.accumulate(x, s, labels[s], cw[labels[s]], 0.07, mask);
    }
    const batchLoss = batch.accumulateLinearBatch(x, samples, count, labels, cw, 0.07, p > 0 ? bits : null, 1 / (1 - p));
    assert.equal(batchLoss, loss);
    assert.deepEqual(batch.gradWeight, one.gradWeight);
    assert.deepEqual(batch.gradBias, one.gradBias);
    assert.ok(one.gradWeight.some((g, i) => i !== 3 && g !== 0));
  });
}

test('conv head: the training path (sparse maps + sparse dropout bits) equals accumulate() with the same mask as element bits', () => {
  const spec: HeadSpec = { kind: 'squeezenet-conv', inChannels: 7, spatial: [6, 7], dropout: 0.5 };
  const rng = new Rng(31);
  const head = createHead(spec, rng);
  for (let i = 0; i < head.weight.length; i++) head.weight[i] *= 3;
  const n = 5;
  const size = 7 * 42;
  const x = new Float32Array(n * size);
  for (let i = 0; i < x.length; i++) x[i] = rng.next() < 0.6 ? 0 : rng.normal();
  const maps = mapsByPosition(x, n, 7, 42);
  const plan = sparseMaskPlan(maps);
  const fast = new ConvKernel(head);
  const at = fast.attach(maps);
  const plain = new ConvKernel(head);
  const words = plain.layout.wordsPerRow;
  fast.beginBatch(2);
  plain.zeroGrad();
  for (let s = 0; s < n; s++) {
    const y = s % 2;
    fillSparseMask(fast.maskBits(), plan, s, 0.5, 1000 + s);
    const lossFast = fast.accumulateAttached(at, s, y, 1.3, 0.1);
    // the same kept values as an element mask over the dense sample
    const sparseBits = fast.maskBits();
    const dense = new Uint32Array(7 * words);
    let w = 0;
    for (let q = 0; q < 42; q++) {
      const r = s * 42 + q;
      for (let k0 = maps.rowStart[r]; k0 < maps.rowStart[r + 1]; k0 += 32, w++) {
        for (let j = 0; j < 32 && k0 + j < maps.rowStart[r + 1]; j++) {
          if ((sparseBits[w] >>> j) & 1) {
            const c = maps.columns[k0 + j];
            dense[c * words + (q >>> 5)] |= 1 << (q & 31);
          }
        }
      }
    }
    const lossPlain = plain.accumulate(x, s, y, 1.3, 0.1, { bits: dense, scale: 2 });
    assert.equal(lossFast, lossPlain, `sample ${s} loss`);
    assert.deepEqual(fast.logits, plain.logits);
    const evalKernel = new ConvKernel(head);
    evalKernel.forwardAttached(evalKernel.attach(maps), s);
    plain.forward(x, s, null);
    assert.deepEqual(Array.from(evalKernel.logits), Array.from(plain.logits), `sample ${s} eval logits`);
  }
  fast.endBatch();
  assert.deepEqual(fast.gradWeight, plain.gradWeight);
  assert.deepEqual(fast.gradBias, plain.gradBias);
  assert.ok(fast.gradWeight.some((g) => g !== 0));
});
