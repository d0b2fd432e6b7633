// Source nulling (a robustness option): on synthetic features where one channel direction tells the
// sources apart within each class and another carries the class, the directions found cover the
// source one and not the class one; a head trained with them never reads the source direction
// and still reads the class; on real-looking pooled heads and SqueezeNet-style maps alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDirections, sourceDirections } from '../src/head/source-null.js';
import { predictProba, trainHead } from '../src/head/index.js';
import { Rng } from '../src/util/rng.js';
import { UsageError } from '../src/errors.js';

const DIM = 16;
const SOURCE_AXIS = 3; // channel that marks the source
const CLASS_AXIS = 7; // channel that marks the class

/** n samples: class 50/50, source 0/1 independent of class, noise elsewhere; the source shifts channel 3, the class channel 7. */
function synthetic(n: number, seed: number, sourceShift = 3): { x: Float32Array; labels: Uint8Array; groups: Int32Array } {
  const rng = new Rng(seed);
  const x = new Float32Array(n * DIM);
  const labels = new Uint8Array(n);
  const groups = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    groups[i] = Math.floor(i / 2) % 2;
    for (let c = 0; c < DIM; c++) x[i * DIM + c] = rng.normal() * 0.5 + 1;
    x[i * DIM + SOURCE_AXIS] += groups[i] * sourceShift;
    x[i * DIM + CLASS_AXIS] += labels[i] * 1.5;
  }
  return { x, labels, groups };
}

/** Length of the projection of the unit axis e_c onto the span of the directions. */
function coverage(d: { dim: number; count: number; directions: Float64Array }, c: number): number {
  let s = 0;
  for (let k = 0; k < d.count; k++) s += d.directions[k * d.dim + c] ** 2;
  return Math.sqrt(s);
}

test('sourceDirections finds the direction that tells the sources apart within each class, not the class one; orthonormal and deterministic', () => {
  const { x, labels, groups } = synthetic(200, 1);
  // one round: the source axis, found in both classes (the same direction, kept once), and little else
  const one = sourceDirections(x, 200, DIM, labels, groups, { iterations: 1 });
  assert.ok(one.count >= 1 && one.count <= 2, `${one.count} directions`);
  assert.ok(coverage(one, SOURCE_AXIS) > 0.95, `source axis covered ${coverage(one, SOURCE_AXIS)}`);
  assert.ok(coverage(one, CLASS_AXIS) < 0.3, `class axis covered ${coverage(one, CLASS_AXIS)}`);
  // later rounds fit what is left (here noise) and add at most one direction per fit
  const d = sourceDirections(x, 200, DIM, labels, groups, { iterations: 3 });
  assert.ok(d.count > one.count && d.count <= 12, `${d.count} directions`);
  assert.ok(coverage(d, SOURCE_AXIS) > 0.95, `source axis covered ${coverage(d, SOURCE_AXIS)}`);
  for (let a = 0; a < d.count; a++) for (let b = 0; b < d.count; b++) {
    let dot = 0;
    for (let c = 0; c < DIM; c++) dot += d.directions[a * DIM + c] * d.directions[b * DIM + c];
    assert.ok(Math.abs(dot - (a === b ? 1 : 0)) < 1e-9, `u${a}.u${b} = ${dot}`);
  }
  // the first round's classifiers separate the sources; each fit is one source against the rest of its class
  const first = d.fits.filter((f) => f.iteration === 1);
  assert.deepEqual(first.map((f) => f.label), [0, 0, 1, 1]);
  assert.ok(first.every((f) => f.balancedAccuracy > 0.95 && f.n === 100), JSON.stringify(first));
  assert.deepEqual(sourceDirections(x, 200, DIM, labels, groups, { iterations: 3 }).directions, d.directions);
  // sources too small within a class take no part: no fit, no direction
  const none = sourceDirections(x, 200, DIM, labels, groups, { iterations: 3, minCount: 120 });
  assert.equal(none.count, 0);
  assert.equal(none.fits.length, 0);
  assert.throws(() => sourceDirections(x, 200, DIM, labels, groups, { iterations: 0 }), UsageError);
  assert.throws(() => sourceDirections(x, 199, DIM, labels, groups), UsageError);
});

test('removeDirections leaves every weight row orthogonal to the directions and keeps what is orthogonal already', () => {
  const { x, labels, groups } = synthetic(200, 2);
  const d = sourceDirections(x, 200, DIM, labels, groups, { iterations: 2 });
  const w = Float64Array.from({ length: 2 * DIM }, (_, i) => Math.sin(i + 1));
  removeDirections(w, d);
  for (let r = 0; r < 2; r++) for (let k = 0; k < d.count; k++) {
    let dot = 0;
    for (let c = 0; c < DIM; c++) dot += w[r * DIM + c] * d.directions[k * DIM + c];
    assert.ok(Math.abs(dot) < 1e-12, `row ${r} . u${k} = ${dot}`);
  }
  const again = Float64Array.from(w);
  removeDirections(again, d);
  for (let i = 0; i < w.length; i++) assert.ok(Math.abs(again[i] - w[i]) < 1e-12);
  assert.throws(() => removeDirections(new Float64Array(DIM + 1), d), UsageError);
});

test('a head trained with the directions does not read the source but still reads the class', () => {
  // training data where the source also predicts the class (the confound), test data where it does not
  const n = 400;
  const train = synthetic(n, 3);
  for (let i = 0; i < n; i++) {
    // make source = class for 90 % of the training samples: a shortcut a plain head will use
    train.groups[i] = i % 10 === 0 ? 1 - train.labels[i] : train.labels[i];
    train.x[i * DIM + SOURCE_AXIS] = 1 + train.groups[i] * 3 + 0.1 * Math.sin(i);
  }
  const d = sourceDirections(train.x, n, DIM, train.labels, train.groups, { iterations: 3, minCount: 10 });
  assert.ok(coverage(d, SOURCE_AXIS) > 0.9, `source axis covered ${coverage(d, SOURCE_AXIS)}`);
  const spec = { kind: 'linear' as const, inChannels: DIM, dropout: 0 };
  const opts = { epochs: 30, batchSize: 20, lr: 0.01, seed: 1 };
  const plain = trainHead(spec, { features: train.x, labels: train.labels }, { features: train.x, labels: train.labels }, opts).head;
  const nulled = trainHead(spec, { features: train.x, labels: train.labels }, { features: train.x, labels: train.labels }, { ...opts, nullDirections: d }).head;
  // weight on the source channel: large without nulling, none with it
  const srcWeight = (h: typeof plain) => Math.abs(h.weight[DIM + SOURCE_AXIS] - h.weight[SOURCE_AXIS]);
  assert.ok(srcWeight(plain) > 0.3, `plain head's source weight ${srcWeight(plain)}`);
  assert.ok(srcWeight(nulled) < 0.1 * srcWeight(plain), `nulled head's source weight ${srcWeight(nulled)}`);
  // flipping every test image's source leaves the nulled head's probabilities as they were
  const test = synthetic(100, 4);
  const flipped = Float32Array.from(test.x);
  for (let i = 0; i < 100; i++) flipped[i * DIM + SOURCE_AXIS] = test.x[i * DIM + SOURCE_AXIS] + (test.groups[i] ? -3 : 3);
  const a = predictProba(nulled, test.x);
  const b = predictProba(nulled, flipped);
  let maxDiff = 0;
  for (let i = 0; i < 100; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
  assert.ok(maxDiff < 0.02, `source flip moves the nulled head by ${maxDiff}`);
  // …and it still tells the classes apart
  let right = 0;
  for (let i = 0; i < 100; i++) if ((a[i] > 0.5 ? 1 : 0) === test.labels[i]) right++;
  assert.ok(right >= 65, `${right}/100 right`);
  assert.throws(() => trainHead(spec, { features: train.x, labels: train.labels }, { features: train.x, labels: train.labels }, { ...opts, epochs: 1, nullDirections: { dim: DIM + 1, count: 1, directions: new Float64Array(DIM + 1) } }), UsageError);
});
