// Source-balanced sampling: every group is drawn equally often per epoch whatever its size, draws
// are seeded, and a head trained with it is deterministic and differs from plain shuffling.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../src/errors.js';
import { balancedOrder, groupIds, trainHead, type HeadSpec } from '../src/head/index.js';
import { Rng } from '../src/util/rng.js';

test('balancedOrder draws each group n/g times (remainder spread), repeating small groups and covering large ones', () => {
  // a source of 90 images, one of 8, one of 2
  const groups = new Int32Array([...Array(90).fill(0), ...Array(8).fill(1), ...Array(2).fill(2)]);
  const order = new Int32Array(100);
  balancedOrder(groups, new Rng(3), order);
  const perGroup = [0, 0, 0];
  for (const i of order) perGroup[groups[i]]++;
  assert.deepEqual([...perGroup].sort(), [33, 33, 34]);
  // the 2-image group: both images, each about equally often (permutations, not independent draws)
  const small = [0, 0];
  for (const i of order) if (groups[i] === 2) small[i - 98]++;
  assert.ok(Math.abs(small[0] - small[1]) <= 1, `small group draws ${small}`);
  // 33 draws from the 90-image group are 33 distinct images
  assert.equal(new Set([...order].filter((i) => groups[i] === 0)).size, perGroup[0]);
  // seeded: the same seed gives the same order, another seed another
  const again = new Int32Array(100);
  balancedOrder(groups, new Rng(3), again);
  assert.deepEqual(again, order);
  balancedOrder(groups, new Rng(4), again);
  assert.notDeepEqual(again, order);
  assert.throws(() => balancedOrder([0, -1], new Rng(1), new Int32Array(2)), UsageError);
});

test('groupIds numbers names densely in order of first appearance', () => {
  const { ids, groups } = groupIds(['b', 'a', 'b', 'c']);
  assert.deepEqual([...ids], [0, 1, 0, 2]);
  assert.deepEqual(groups, ['b', 'a', 'c']);
});

test('trainHead with sampleGroups is deterministic, differs from plain shuffling, and checks its length', () => {
  const rng = new Rng(7);
  const dim = 6, n = 60;
  const features = new Float32Array(n * dim).map(() => rng.normal());
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 2);
  for (let s = 0; s < n; s++) features[s * dim] += labels[s] ? 1 : -1;
  const groups = Int32Array.from({ length: n }, (_, i) => (i < 50 ? 0 : 1));
  const spec: HeadSpec = { kind: 'linear', inChannels: dim, dropout: 0 };
  const data = { features, labels };
  const opts = { seed: 1, epochs: 3, batchSize: 10 };
  const a = trainHead(spec, data, data, { ...opts, sampleGroups: groups });
  const b = trainHead(spec, data, data, { ...opts, sampleGroups: groups });
  const plain = trainHead(spec, data, data, opts);
  assert.deepEqual(a.head.weight, b.head.weight);
  assert.notDeepEqual(a.lastHead.weight, plain.lastHead.weight);
  assert.throws(() => trainHead(spec, data, data, { ...opts, sampleGroups: groups.subarray(1) }), /sampleGroups has 59 entries for 60/);
});
