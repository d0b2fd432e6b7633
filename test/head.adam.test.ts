// Adam against updates computed by hand in the textbook form m_hat / (sqrt(v_hat) + eps).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Adam } from '../src/head/index.js';

function near(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= 1e-15 + 1e-12 * Math.abs(b), `${what}: ${a} vs ${b}`);
}

test('one and two Adam steps match the hand-computed update', () => {
  const p = Float64Array.from([1, -2, 0.5]);
  const adam = new Adam([p], { lr: 1e-3 });
  const g1 = [0.5, -0.1, 0];
  const g2 = [-0.2, 0.3, 1e-3];
  adam.update([Float64Array.from(g1)]);
  // step 1: m_hat = g, v_hat = g^2, so the move is lr * g / (|g| + eps)
  const after1 = [1 - (1e-3 * 0.5) / (0.5 + 1e-8), -2 + (1e-3 * 0.1) / (0.1 + 1e-8), 0.5];
  after1.forEach((v, i) => near(p[i], v, `step 1 param ${i}`));
  adam.update([Float64Array.from(g2)]);
  for (let i = 0; i < 3; i++) {
    const m = 0.9 * (0.1 * g1[i]) + 0.1 * g2[i];
    const v = 0.999 * (0.001 * g1[i] * g1[i]) + 0.001 * g2[i] * g2[i];
    const mHat = m / (1 - 0.9 ** 2);
    const vHat = v / (1 - 0.999 ** 2);
    near(p[i], after1[i] - (1e-3 * mHat) / (Math.sqrt(vHat) + 1e-8), `step 2 param ${i}`);
  }
  assert.equal(adam.step, 2);
});

test('weight decay is added to the gradient (torch L2, not decoupled)', () => {
  const p = Float64Array.from([2]);
  const adam = new Adam([p], { lr: 0.1, weightDecay: 0.5 });
  adam.update([Float64Array.from([-0.4])]); // effective gradient -0.4 + 0.5 * 2 = 0.6
  near(p[0], 2 - (0.1 * 0.6) / (0.6 + 1e-8), 'decayed step');
});

test('default settings are the Deep-COVID ones (lr 1e-4, betas 0.9/0.999, eps 1e-8, no decay)', () => {
  const adam = new Adam([new Float64Array(1)]);
  assert.deepEqual(adam.options, { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
});
