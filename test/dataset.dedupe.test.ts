import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { candidatePairs, findDuplicates } from '../src/dataset/dedupe.js';
import { fingerprintDecoded, halve, pearson } from '../src/dataset/fingerprint.js';
import { hamming, hashHex, phash32 } from '../src/dataset/phash.js';
import { UnionFind } from '../src/dataset/union-find.js';
import { loadGreyImage } from '../src/input/load-image.js';
import { sha256Hex } from '../src/util/hash.js';
import { Rng } from '../src/util/rng.js';

/** Brute-force Hamming distance on 64-bit words split as BigInt (independent of the 16-bit table). */
function bigHamming(h: Uint16Array, i: number, j: number): number {
  let x = 0n;
  for (let w = 0; w < 4; w++) x |= BigInt(h[i * 4 + w] ^ h[j * 4 + w]) << BigInt(16 * w);
  let c = 0;
  for (; x; x &= x - 1n) c++;
  return c;
}

/** A random-shapes grey image as PNG bytes. */
async function shapes(seed: number, w = 120, h = 140): Promise<Buffer> {
  const rng = new Rng(seed);
  let body = '';
  for (let k = 0; k < 12; k++) {
    const g = rng.int(256);
    body += `<ellipse cx="${rng.int(w)}" cy="${rng.int(h)}" rx="${5 + rng.int(30)}" ry="${5 + rng.int(30)}" fill="rgb(${g},${g},${g})"/>`;
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="100%" height="100%" fill="rgb(20,20,20)"/>${body}</svg>`;
  return sharp(Buffer.from(svg)).greyscale().png().toBuffer();
}

describe('dataset: pHash and multi-index search', () => {
  it('finds exactly the pairs a brute-force scan finds', () => {
    const rng = new Rng(5);
    const n = 400;
    const h = new Uint16Array(4 * n);
    for (let i = 0; i < n; i++) {
      if (i > 0 && rng.next() < 0.3) {
        // a relative of an earlier hash with a few flipped bits
        h.set(h.subarray(4 * (i - 1), 4 * i), 4 * i);
        const flips = rng.int(14);
        for (let f = 0; f < flips; f++) {
          const b = rng.int(64);
          h[4 * i + (b >> 4)] ^= 1 << (b & 15);
        }
      } else {
        for (let w = 0; w < 4; w++) h[4 * i + w] = rng.int(65536);
      }
    }
    for (const t of [3, 8, 10, 12]) {
      const want: string[] = [];
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (bigHamming(h, i, j) <= t) want.push(`${i},${j}`);
      const got = candidatePairs(h, n, t).map((p) => `${p.i},${p.j}`).sort();
      assert.deepEqual(got, want.sort(), `threshold ${t}`);
      assert.ok(want.length > 0);
    }
    assert.equal(hamming(h, 0, h, 1), bigHamming(h, 0, 1));
  });

  it('pHash is stable under re-encoding and resizing, and far apart for different images', async () => {
    const a = await loadGreyImage({ bytes: await shapes(1), name: 'a.png' });
    const jpeg = await sharp(await shapes(1)).resize(108).jpeg({ quality: 80 }).toBuffer();
    const b = await loadGreyImage({ bytes: jpeg, name: 'b.jpg' });
    const c = await loadGreyImage({ bytes: await shapes(2), name: 'c.png' });
    const fa = await fingerprintDecoded(a, 'x');
    const fb = await fingerprintDecoded(b, 'y');
    const fc = await fingerprintDecoded(c, 'z');
    assert.ok(hamming(fa.fp.phash, 0, fb.fp.phash, 0) <= 6, `copy distance ${hamming(fa.fp.phash, 0, fb.fp.phash, 0)}`);
    assert.ok(hamming(fa.fp.phash, 0, fc.fp.phash, 0) > 16, `different-image distance ${hamming(fa.fp.phash, 0, fc.fp.phash, 0)}`);
    assert.ok(pearson(fa.thumb, fb.thumb) > 0.97);
    assert.equal(hashHex(fa.fp.phash).length, 16);
    // a flat thumbnail hashes without error and 32x32 halving averages 2x2 blocks
    assert.equal(phash32(new Uint8Array(1024).fill(7)).length, 4);
    assert.deepEqual([...halve(Uint8Array.from([0, 4, 8, 8]), 2)], [5]);
  });

  it('finds exact and near duplicates and merges them into groups', async () => {
    const pngs = await Promise.all([1, 2, 3, 4].map((s) => shapes(s)));
    const copyJpeg = await sharp(pngs[1]).resize(110).jpeg({ quality: 85 }).toBuffer();
    const rePng = await sharp(pngs[2]).png({ compressionLevel: 1 }).toBuffer(); // other bytes, same pixels
    const files = [pngs[0], pngs[1], pngs[2], pngs[3], copyJpeg, pngs[0], rePng];
    const imgs = await Promise.all(files.map((b, i) => loadGreyImage({ bytes: b, name: `f${i}` })));
    const fps = await Promise.all(imgs.map((im, i) => fingerprintDecoded(im, sha256Hex(files[i]))));
    const hashes = new Uint16Array(4 * files.length);
    fps.forEach((f, i) => hashes.set(f.fp.phash, 4 * i));
    const res = await findDuplicates(fps.map((f) => f.fp), hashes, async (i) => imgs[i]);
    const pairs = res.pairs.map((p) => `${p.i}-${p.j}:${p.kind}`).sort();
    assert.deepEqual(pairs, ['0-5:file', '1-4:near', '2-6:pixels']);
    assert.deepEqual([...res.group], [0, 1, 2, 3, 1, 0, 2]);
  });

  it('union-find groups by smallest member', () => {
    const uf = new UnionFind(6);
    uf.union(4, 2);
    uf.union(5, 4);
    uf.union(1, 3);
    assert.equal(uf.union(2, 5), false);
    assert.deepEqual([...uf.groups()], [0, 1, 2, 1, 2, 2]);
  });
});
