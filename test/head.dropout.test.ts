// Dropout masks: drop fraction ~ p, mean scaled mask ~ 1, exact pattern law of the alias sampler,
// independence, tail bits unused, deterministic; nonzero bitmaps.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aliasPatternProbabilities, fillDropoutMask, fillHalfMaskAnd, maskLayout, maskWords, nonzeroBits } from '../src/head/index.js';
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

test('p = 0 keeps everything; nonzeroBits marks exactly the nonzero features', () => {
  const layout = maskLayout(3, 37);
  const bits = new Uint32Array(maskWords(layout));
  fillDropoutMask(bits, layout, 0, new Rng(1));
  assert.deepEqual(Array.from(bits), [-1, 31, -1, 31, -1, 31].map((v) => v >>> 0));
  const x = new Float32Array(2 * 3 * 37);
  const rng = new Rng(2);
  for (let i = 0; i < x.length; i++) x[i] = rng.next() < 0.4 ? 0 : rng.normal();
  x[5] = -0; // negative zero counts as zero
  const nz = nonzeroBits(x, 2, layout);
  for (let s = 0; s < 2; s++) {
    for (let r = 0; r < 3; r++) {
      for (let q = 0; q < 64; q++) {
        const bit = (nz[(s * 3 + r) * 2 + (q >>> 5)] >>> (q & 31)) & 1;
        assert.equal(bit, q < 37 && x[(s * 3 + r) * 37 + q] !== 0 ? 1 : 0, `sample ${s} row ${r} position ${q}`);
      }
    }
  }
});

test('fillHalfMaskAnd gives the p = 0.5 words of fillDropoutMask(new Rng(seed)) ANDed with the bitmap', () => {
  const layout = maskLayout(7, 45);
  const words = maskWords(layout);
  const nz = new Uint32Array(3 * words);
  const rng = new Rng(3);
  for (let j = 0; j < nz.length; j++) nz[j] = rng.nextUint32() & (j % 2 === 1 ? (1 << 13) - 1 : -1);
  for (const seed of [0, 1, 0xffffffff, 123456789]) {
    const expected = new Uint32Array(words);
    fillDropoutMask(expected, layout, 0.5, new Rng(seed));
    for (let j = 0; j < words; j++) expected[j] &= nz[words + j];
    const got = new Uint32Array(words);
    fillHalfMaskAnd(got, words, seed, nz, words);
    assert.deepEqual(got, expected, `seed ${seed}`);
  }
});
