// Dropout masks: drop fraction ~ p, mean scaled mask ~ 1, exact pattern law of the alias sampler,
// independence, tail bits unused, deterministic; sparse maps and their dropout bits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aliasPatternProbabilities, fillDropoutMask, fillSparseMask, mapsByPosition, maskLayout, maskWords, sparseMaps, sparseMaskPlan } from '../src/head/index.js';
import { Rng } from '../src/util/rng.js';

function stats(p: number, rows: number, rowLength: number, draws: number, seed: number) {
  const layout = maskLayout(rows, rowLength);
  const bits = new Uint32Array(maskWords(layout));
  const rng = new Rng(seed);
  let kept = 0;
  let tailSet = 0;
  for (let d = 0; d < draws; d++) {
    fillDropoutMask(bits, layout, p, rng);
    for (let r = 0; r < rows; r++) {
      for (let q = 0; q < layout.wordsPerRow * 32; q++) {
        const bit = (bits[r * layout.wordsPerRow + (q >>> 5)] >>> (q & 31)) & 1;
        if (q < rowLength) kept += bit;
        else tailSet += bit;
      }
    }
  }
  const total = draws * rows * rowLength;
  return { dropFraction: 1 - kept / total, meanScale: kept / (1 - p) / total, tailSet, total, bits };
}

for (const [p, rows, len] of [[0.5, 64, 169], [0.2, 1, 1280], [0.3, 8, 45]] as const) {
  test(`p = ${p}: drop fraction and mean scale over many draws (${rows} x ${len})`, () => {
    const s = stats(p, rows, len, 200, 9);
    const sd = Math.sqrt((p * (1 - p)) / s.total); // binomial standard deviation of the fraction
    assert.ok(Math.abs(s.dropFraction - p) < 5 * sd, `drop fraction ${s.dropFraction}`);
    assert.ok(Math.abs(s.meanScale - 1) < (5 * sd) / (1 - p), `mean scale ${s.meanScale}`);
    assert.equal(s.tailSet, 0, 'bits past the row end are 0');
  });
}

test('same seed gives the same mask', () => {
  assert.deepEqual(stats(0.2, 2, 100, 3, 1).bits, stats(0.2, 2, 100, 3, 1).bits);
  assert.notDeepEqual(stats(0.2, 2, 100, 3, 1).bits, stats(0.2, 2, 100, 3, 2).bits);
});

test('alias sampler: every 8-element keep pattern has its exact probability p^drops (1-p)^kept', () => {
  for (const p of [0.2, 0.1, 0.3, 0.75, 0.01]) {
    const probs = aliasPatternProbabilities(p);
    let total = 0;
    for (let i = 0; i < 256; i++) {
      let kept = 0;
      for (let b = 0; b < 8; b++) kept += (i >>> b) & 1;
      const exact = (1 - p) ** kept * p ** (8 - kept);
      // each column threshold is rounded to 2^-24, so a pattern is off by at most 256 * 2^-25 / 256 = 2^-25
      assert.ok(Math.abs(probs[i] - exact) <= 2 ** -25, `p = ${p} pattern ${i}: ${probs[i]} vs ${exact}`);
      total += probs[i];
    }
    assert.ok(Math.abs(total - 1) < 1e-12);
  }
});

test('p = 0.2: neighbouring elements are dropped independently (P(both) = p^2)', () => {
  const layout = maskLayout(1, 1280);
  const bits = new Uint32Array(maskWords(layout));
  const rng = new Rng(4);
  let both = 0;
  let pairs = 0;
  for (let d = 0; d < 100; d++) {
    fillDropoutMask(bits, layout, 0.2, rng);
    for (let q = 0; q + 1 < 1280; q++) {
      const a = (bits[q >>> 5] >>> (q & 31)) & 1;
      const b = (bits[(q + 1) >>> 5] >>> ((q + 1) & 31)) & 1;
      if (a === 0 && b === 0) both++;
      pairs++;
    }
  }
  const sd = Math.sqrt((0.04 * 0.96) / pairs);
  assert.ok(Math.abs(both / pairs - 0.04) < 5 * sd, `P(both dropped) ${both / pairs}`);
});

test('p = 0 keeps everything', () => {
  const layout = maskLayout(3, 37);
  const bits = new Uint32Array(maskWords(layout));
  fillDropoutMask(bits, layout, 0, new Rng(1));
  assert.deepEqual(Array.from(bits), [-1, 31, -1, 31, -1, 31].map((v) => v >>> 0));
});

/** Dense samples with random zeros (-0 and NaN included) and their expected nonzero lists. */
function denseSamples(n: number, rows: number, len: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * rows * len);
  for (let i = 0; i < x.length; i++) x[i] = rng.next() < 0.7 ? 0 : rng.normal();
  x[5] = -0; // negative zero counts as zero
  x[7] = NaN; // NaN is not zero: it must reach the head
  for (let q = 0; q < len; q++) x[len + q] = 0; // an all-zero row
  return x;
}

test('sparseMaps keeps exactly the nonzero values, in row order, with their columns', () => {
  const [n, rows, len] = [3, 4, 45];
  const x = denseSamples(n, rows, len, 2);
  const m = sparseMaps(x, n, rows, len);
  assert.equal(m.rowStart.length, n * rows + 1);
  for (let r = 0; r < n * rows; r++) {
    const expected: [number, number][] = [];
    for (let q = 0; q < len; q++) {
      const v = x[r * len + q];
      if (v !== 0) expected.push([q, v]);
    }
    const got: [number, number][] = [];
    for (let k = m.rowStart[r]; k < m.rowStart[r + 1]; k++) got.push([m.columns[k], m.values[k]]);
    assert.deepEqual(got, expected, `row ${r}`);
  }
  assert.equal(m.rowStart[n * rows], m.values.length);
  assert.equal(m.rowStart[2] - m.rowStart[1], 0, 'the all-zero row is empty');
});

test('mapsByPosition groups each sample\'s nonzero values by position, channels in increasing order', () => {
  const [n, channels, positions] = [3, 4, 45];
  const x = denseSamples(n, channels, positions, 8);
  const m = mapsByPosition(x, n, channels, positions);
  assert.equal(m.rows, positions);
  assert.equal(m.rowLength, channels);
  for (let s = 0; s < n; s++) {
    for (let q = 0; q < positions; q++) {
      const expected: [number, number][] = [];
      for (let c = 0; c < channels; c++) {
        const v = x[(s * channels + c) * positions + q];
        if (v !== 0) expected.push([c, v]);
      }
      const r = s * positions + q;
      const got: [number, number][] = [];
      for (let k = m.rowStart[r]; k < m.rowStart[r + 1]; k++) got.push([m.columns[k], m.values[k]]);
      assert.deepEqual(got, expected, `sample ${s} position ${q}`);
    }
  }
  assert.equal(m.rowStart[n * positions], m.values.length);
});

test('sparse dropout bits: one bit per nonzero value, p = 0.5 words are Rng(seed) words, tails 0, drop rate p', () => {
  const [n, rows, len] = [2, 5, 100];
  const m = sparseMaps(denseSamples(n, rows, len, 3), n, rows, len);
  const plan = sparseMaskPlan(m);
  const bits = new Uint32Array(rows * 4);
  for (let s = 0; s < n; s++) {
    const words = fillSparseMask(bits, plan, s, 0.5, 77 + s);
    const rng = new Rng(77 + s);
    let w = 0;
    for (let r = s * rows; r < (s + 1) * rows; r++) {
      for (let left = m.rowStart[r + 1] - m.rowStart[r]; left > 0; left -= 32, w++) {
        const raw = rng.nextUint32();
        assert.equal(bits[w], (left < 32 ? raw & ((1 << left) - 1) : raw) >>> 0, `sample ${s} word ${w}`);
      }
    }
    assert.equal(words, w);
  }
  for (const p of [0.5, 0.2, 0]) {
    let kept = 0;
    let total = 0;
    for (let d = 0; d < 400; d++) {
      for (let s = 0; s < n; s++) {
        const words = fillSparseMask(bits, plan, s, p, d * 2 + s);
        let w = 0;
        for (let r = s * rows; r < (s + 1) * rows; r++) {
          for (let left = m.rowStart[r + 1] - m.rowStart[r]; left > 0; left -= 32, w++) {
            const used = Math.min(32, left);
            for (let b = 0; b < 32; b++) {
              const bit = (bits[w] >>> b) & 1;
              if (b >= used) assert.equal(bit, 0, 'bits past the row end are 0');
              else kept += bit;
            }
            total += used;
          }
        }
        assert.equal(words, w);
      }
    }
    const sd = Math.sqrt((p * (1 - p)) / total);
    assert.ok(Math.abs(1 - kept / total - p) <= 5 * sd + 1e-12, `p = ${p}: drop fraction ${1 - kept / total}`);
  }
});
