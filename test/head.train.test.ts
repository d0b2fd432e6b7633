// Training on seeded synthetic problems: learns, keeps the min-val-loss epoch, is deterministic,
// and the conv head's training path agrees with a plain kernel loop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatasetError, UsageError } from '../src/errors.js';
import { Adam, computeLogits, createHead, createKernel, predictProba, trainHead, type HeadSpec, type LabelledFeatures } from '../src/head/index.js';
import { Rng } from '../src/util/rng.js';

/** Two Gaussian clusters in `dim` dimensions, means +-shift. */
function clusters(n: number, dim: number, shift: number, rng: Rng): LabelledFeatures {
  const features = new Float32Array(n * dim);
  const labels = new Uint8Array(n);
  for (let s = 0; s < n; s++) {
    labels[s] = s % 2;
    for (let i = 0; i < dim; i++) features[s * dim + i] = rng.normal() + (labels[s] ? shift : -shift);
  }
  return { features, labels };
}

/** Non-negative C x H x W maps where channel 2's spatial mean is higher for class 1. */
function maps(n: number, c: number, hw: number, rng: Rng): LabelledFeatures {
  const size = c * hw;
  const features = new Float32Array(n * size);
  const labels = new Uint8Array(n);
  for (let s = 0; s < n; s++) {
    labels[s] = rng.next() < 0.5 ? 1 : 0;
    for (let i = 0; i < size; i++) features[s * size + i] = rng.next();
    for (let q = 0; q < hw; q++) features[s * size + 2 * hw + q] += labels[s] ? 1.5 : 0;
  }
  return { features, labels };
}

function valLossOf(proba: Float64Array, labels: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < proba.length; i++) sum -= Math.log(labels[i] ? proba[i] : 1 - proba[i]);
  return sum / proba.length;
}

function accuracy(proba: Float64Array, labels: ArrayLike<number>): number {
  let ok = 0;
  for (let i = 0; i < proba.length; i++) if ((proba[i] > 0.5 ? 1 : 0) === labels[i]) ok++;
  return ok / proba.length;
}

const linearSpec: HeadSpec = { kind: 'linear', inChannels: 64, dropout: 0.2 };

test('linear head separates two Gaussian clusters and keeps the min-val-loss epoch', () => {
  const rng = new Rng(1);
  const train = clusters(205, 64, 0.3, rng); // 205: last batch of 5 is kept
  const val = clusters(60, 64, 0.3, rng);
  const epochs: number[] = [];
  const res = trainHead(linearSpec, train, val, { lr: 3e-3, epochs: 25, seed: 5, onEpoch: (r, total) => { epochs.push(r.epoch); assert.equal(total, 25); } });
  assert.deepEqual(epochs, Array.from({ length: 25 }, (_, i) => i + 1));
  assert.equal(res.history.length, 25);
  const proba = predictProba(res.head, val.features);
  assert.ok(accuracy(proba, val.labels) >= 0.95, `val accuracy ${accuracy(proba, val.labels)}`);
  const minEpoch = res.history.reduce((b, r) => (r.valLoss < b.valLoss ? r : b)).epoch;
  assert.equal(res.bestEpoch, minEpoch);
  assert.ok(Math.abs(valLossOf(proba, val.labels) - res.bestValLoss) < 1e-12, 'kept weights give the best val loss');
  assert.ok(res.history[0].trainLoss > res.history[24].trainLoss, 'train loss falls');
  assert.equal(res.history.filter((r) => r.improved).at(-1)!.epoch, res.bestEpoch);
});

test('best epoch is an early one when later epochs overfit (weights of that epoch are returned)', () => {
  const rng = new Rng(2);
  const train = clusters(40, 64, 0.05, rng); // almost no signal: val loss rises as the head overfits
  const val = clusters(40, 64, 0.05, rng);
  const res = trainHead({ kind: 'linear', inChannels: 64, dropout: 0 }, train, val, { lr: 1e-2, epochs: 30, seed: 1 });
  assert.ok(res.bestEpoch < 30, `best epoch ${res.bestEpoch}`);
  assert.ok(res.history[29].valLoss > res.bestValLoss);
  assert.notDeepEqual(res.head.weight, res.lastHead.weight);
  assert.ok(Math.abs(valLossOf(predictProba(res.head, val.features), val.labels) - res.bestValLoss) < 1e-12);
});

test('squeezenet-conv head learns from one channel\'s spatial mean (dropout 0.5)', () => {
  const rng = new Rng(3);
  const spec: HeadSpec = { kind: 'squeezenet-conv', inChannels: 8, spatial: [5, 5], dropout: 0.5 };
  const train = maps(120, 8, 25, rng);
  const val = maps(40, 8, 25, rng);
  const res = trainHead(spec, train, val, { lr: 1e-2, epochs: 30, seed: 2 });
  const proba = predictProba(res.head, val.features);
  assert.ok(accuracy(proba, val.labels) >= 0.95, `val accuracy ${accuracy(proba, val.labels)}`);
  const logits = computeLogits(res.head, val.features);
  for (let i = 0; i < proba.length; i++) {
    assert.ok(Math.abs(proba[i] - 1 / (1 + Math.exp(logits[2 * i] - logits[2 * i + 1]))) < 1e-15);
  }
});

test('same seed and data give bit-identical weights; another seed does not', () => {
  const rng = new Rng(4);
  const spec: HeadSpec = { kind: 'squeezenet-conv', inChannels: 6, spatial: [3, 3], dropout: 0.5 };
  const train = maps(30, 6, 9, rng);
  const val = maps(10, 6, 9, rng);
  const a = trainHead(spec, train, val, { epochs: 5, seed: 9, classWeights: [1, 2] });
  const b = trainHead(spec, train, val, { epochs: 5, seed: 9, classWeights: [1, 2] });
  const c = trainHead(spec, train, val, { epochs: 5, seed: 10, classWeights: [1, 2] });
  assert.deepEqual(a.lastHead.weight, b.lastHead.weight);
  assert.deepEqual(a.history, b.history);
  assert.notDeepEqual(a.lastHead.weight, c.lastHead.weight);
});

test('bad labels and options raise typed errors', () => {
  const rng = new Rng(5);
  const data = clusters(10, 64, 1, rng);
  assert.throws(() => trainHead(linearSpec, { ...data, labels: new Uint8Array(9) }, data), DatasetError);
  assert.throws(() => trainHead(linearSpec, { ...data, labels: Uint8Array.from(data.labels, () => 2) }, data), DatasetError);
  assert.throws(() => trainHead(linearSpec, { features: new Float32Array(65), labels: [0] }, data), DatasetError);
  assert.throws(() => trainHead(linearSpec, data, data, { batchSize: 0 }), UsageError);
  assert.throws(() => trainHead(linearSpec, data, data, { classWeights: [1, -1] }), UsageError);
  assert.throws(() => trainHead({ ...linearSpec, dropout: 1 }, data, data), UsageError);
});

test('squeezenet-conv without dropout matches a plain per-sample loop over HeadKernel (dense, zeros included)', () => {
  const rng = new Rng(7);
  const spec: HeadSpec = { kind: 'squeezenet-conv', inChannels: 6, spatial: [3, 4], dropout: 0 };
  const train = maps(25, 6, 12, rng);
  for (let i = 0; i < train.features.length; i += 2) train.features[i] = 0;
  const val = maps(8, 6, 12, rng);
  const cw: [number, number] = [1, 1.5];
  const res = trainHead(spec, train, val, { epochs: 3, seed: 4, lr: 1e-2, batchSize: 10, classWeights: cw });
  // the same run by hand: init and shuffle streams are the trainer's (seed -> init, shuffle, dropout forks)
  const root = new Rng(4);
  const head = createHead(spec, root.fork());
  const shuffle = root.fork();
  const k = createKernel(head);
  const adam = new Adam([head.weight, head.bias], { lr: 1e-2 });
  const order = new Int32Array(25);
  for (let e = 0; e < 3; e++) {
    for (let i = 0; i < 25; i++) order[i] = i;
    shuffle.shuffle(order);
    for (let start = 0; start < 25; start += 10) {
      const end = Math.min(25, start + 10);
      let wsum = 0;
      for (let i = start; i < end; i++) wsum += cw[train.labels[order[i]]];
      k.zeroGrad();
      for (let i = start; i < end; i++) k.accumulate(train.features, order[i], train.labels[order[i]], cw[train.labels[order[i]]], 1 / wsum, null);
      adam.update([k.gradWeight, k.gradBias]);
    }
  }
  for (let i = 0; i < head.weight.length; i++) assert.ok(Math.abs(res.lastHead.weight[i] - head.weight[i]) < 1e-12, `weight ${i}`);
  for (let i = 0; i < 2; i++) assert.ok(Math.abs(res.lastHead.bias[i] - head.bias[i]) < 1e-12, `bias ${i}`);
});
