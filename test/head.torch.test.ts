// Cross-check against PyTorch: scripts/fixtures/head-torch.py trained 3 Adam steps of tiny heads in
// float64 from fixed weights and data (no dropout); the same steps here must agree to 1e-9.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Adam, createKernel, predictProba, type Head, type HeadKind } from '../src/head/index.js';

interface Step { batch: number[]; loss: number; weight: number[]; bias: number[] }
interface Case {
  name: string; kind: HeadKind; inChannels: number; spatial: [number, number] | null; weightDecay: number;
  classWeights: [number, number] | null; lr: number; x: number[]; y: number[]; weight0: number[]; bias0: number[];
  steps: Step[]; probaAfter: number[];
}
const fixture = JSON.parse(readFileSync(new URL('../scripts/fixtures/head-torch.json', import.meta.url), 'utf8')) as { cases: Case[] };

function close(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs torch ${expected[i]}`);
  }
}

for (const c of fixture.cases) {
  test(`matches PyTorch Adam steps: ${c.name}`, () => {
    const head: Head = {
      kind: c.kind, inChannels: c.inChannels, dropout: 0, ...(c.spatial ? { spatial: c.spatial } : {}),
      weight: Float64Array.from(c.weight0), bias: Float64Array.from(c.bias0),
    };
    const x = Float32Array.from(c.x);
    for (let i = 0; i < c.x.length; i++) assert.equal(x[i], c.x[i], 'fixture inputs are exact in float32');
    const k = createKernel(head);
    const adam = new Adam([head.weight, head.bias], { lr: c.lr, weightDecay: c.weightDecay });
    const cw = c.classWeights ?? [1, 1];
    for (const [si, step] of c.steps.entries()) {
      let wsum = 0;
      for (const s of step.batch) wsum += cw[c.y[s]];
      k.zeroGrad();
      let loss = 0;
      for (const s of step.batch) loss += k.accumulate(x, s, c.y[s], cw[c.y[s]], 1 / wsum, null);
      loss /= wsum;
      assert.ok(Math.abs(loss - step.loss) < 1e-9, `step ${si + 1} loss ${loss} vs torch ${step.loss}`);
      adam.update([k.gradWeight, k.gradBias]);
      close(head.weight, step.weight, 1e-9, `step ${si + 1} weight`);
      close(head.bias, step.bias, 1e-9, `step ${si + 1} bias`);
    }
    close(predictProba(head, x), c.probaAfter, 1e-9, 'P(COVID)');
  });
}
