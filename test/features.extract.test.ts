import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Backbone } from '../src/backbone/backbone.js';
import { encodeEntry, FeatureCache } from '../src/features/cache.js';
import { extractFeatures, type Augmenter, type FeatureRequest } from '../src/features/extract.js';
import type { GreyImage } from '../src/input/grey-image.js';
import { Rng } from '../src/util/rng.js';
import { SYNTHETIC_SQUEEZENET, skipNoShared } from './helpers/shared.js';

/** Every file under a folder, recursively. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

/** Flips an image left-right (variant-independent, for cache-key tests). */
function flipper(key: string): Augmenter {
  return {
    key,
    apply(img: GreyImage): GreyImage {
      const data = new Uint8Array(img.data.length);
      for (let y = 0; y < img.height; y++) {
        for (let x = 0; x < img.width; x++) data[y * img.width + x] = img.data[y * img.width + img.width - 1 - x];
      }
      return { width: img.width, height: img.height, data };
    },
  };
}

describe('extractFeatures with a FeatureCache', { skip: skipNoShared }, () => {
  let root = '';
  let cacheDir = '';
  let backbone: Backbone;
  const requests: FeatureRequest[] = [];
  const corrupt = { file: '' };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dc-extract-'));
    cacheDir = join(root, 'cache');
    const rng = new Rng(42);
    const sizes: [number, number][] = [[256, 256], [300, 256], [256, 280], [240, 240], [320, 250], [250, 250]];
    for (let k = 0; k < sizes.length; k++) {
      const [w, h] = sizes[k];
      const data = Buffer.alloc(w * h);
      // a smooth gradient with a bright blob at a random place plus noise: distinct, asymmetric images
      const cx = rng.uniform(0.2, 0.8) * w;
      const cy = rng.uniform(0.2, 0.8) * h;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const blob = 150 * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 30 ** 2));
          data[y * w + x] = Math.min(255, Math.round((x / w) * 80 + blob + rng.uniform(0, 20)));
        }
      }
      const file = join(root, `img${k}.png`);
      await writeFile(file, await sharp(data, { raw: { width: w, height: h, channels: 1 } }).png().toBuffer());
      requests.push({ file });
    }
    corrupt.file = join(root, 'corrupt.png');
    const good = await sharp(Buffer.alloc(64 * 64, 100), { raw: { width: 64, height: 64, channels: 1 } }).png().toBuffer();
    await writeFile(corrupt.file, good.subarray(0, Math.floor(good.length * 0.6)));
    requests.splice(3, 0, { file: corrupt.file });
    backbone = await Backbone.load('squeezenet1_1', { path: SYNTHETIC_SQUEEZENET, threads: 2 });
  });
  after(async () => {
    await backbone?.release();
    await rm(root, { recursive: true, force: true });
  });

  const good = () => requests.filter((r) => r.file !== corrupt.file);

  test('first run computes, second run is all from cache with identical features; bad files are reported', async () => {
    const cache = new FeatureCache(cacheDir);
    const first = await extractFeatures(backbone, requests, { tensor: 'map', cache, batchSize: 4 });
    assert.deepEqual(first.shape, [512, 13, 13]);
    assert.equal(first.stats.total, 7);
    assert.equal(first.stats.computed, 6);
    assert.equal(first.stats.fromCache, 0);
    assert.equal(first.stats.failed, 1);
    assert.equal(first.failures[0].file, corrupt.file);
    assert.ok(first.failures[0].message.includes(corrupt.file));
    assert.deepEqual([...first.ok], [1, 1, 1, 0, 1, 1, 1]);
    // every good row holds features (a decode failure must not shift or drop the rows after it)
    for (const k of [0, 1, 2, 4, 5, 6]) assert.ok(first.features!.subarray(k * first.dim, (k + 1) * first.dim).some((v) => v !== 0), `row ${k} is empty`);
    // the failed row stays zero
    assert.ok(first.features!.subarray(3 * first.dim, 4 * first.dim).every((v) => v === 0));

    const second = await extractFeatures(backbone, requests, { tensor: 'map', cache, batchSize: 4 });
    assert.equal(second.stats.fromCache, 6);
    assert.equal(second.stats.computed, 0);
    assert.equal(second.stats.failed, 1);
    assert.deepEqual(second.features, first.features);

    // without a cache (and at another batch size) the same numbers come out
    const plain = await extractFeatures(backbone, requests, { tensor: 'map', cache: null, batchSize: 20 });
    assert.ok(plain.features!.every((v, i) => Math.abs(v - first.features![i]) <= 1e-5));

    const files = await walk(cacheDir);
    assert.equal(files.filter((f) => f.endsWith('.npy')).length, 6);
    assert.deepEqual(files.filter((f) => f.endsWith('.tmp')), []);
  });

  test('a corrupted cache entry is a miss and is recomputed', async () => {
    const cache = new FeatureCache(cacheDir);
    const ref = await extractFeatures(backbone, good(), { tensor: 'map', cache, batchSize: 4 });
    assert.equal(ref.stats.fromCache, 6);
    const npys = (await walk(cacheDir)).filter((f) => f.endsWith('.npy')).sort();
    await writeFile(npys[2], 'garbage, not a .npy file');
    await writeFile(npys[4], npys[4].slice(0, 0)); // and an empty one
    const again = await extractFeatures(backbone, good(), { tensor: 'map', cache, batchSize: 4 });
    assert.equal(again.stats.computed, 2);
    assert.equal(again.stats.fromCache, 4);
    assert.deepEqual(again.features, ref.features);
    const third = await extractFeatures(backbone, good(), { tensor: 'map', cache, batchSize: 4 });
    assert.equal(third.stats.fromCache, 6, 'the rewritten entries are valid again');
    assert.deepEqual((await walk(cacheDir)).filter((f) => f.endsWith('.tmp')), []);
  });

  test('augmented variants: different features and cache keys; a new augmenter key misses', async () => {
    const dir = join(root, 'cache-aug');
    const cache = new FeatureCache(dir);
    const originals = good().slice(0, 3);
    const variants = originals.map((r) => ({ file: r.file, variant: 1 }));
    const aug = flipper('flip-lr v1');
    const res = await extractFeatures(backbone, [...originals, ...variants], { tensor: 'pooled', cache, augmenter: aug, batchSize: 4 });
    assert.equal(res.stats.computed, 6);
    assert.equal(res.stats.failed, 0);
    const d = res.dim;
    for (let k = 0; k < 3; k++) {
      const a = res.features!.subarray(k * d, (k + 1) * d);
      const b = res.features!.subarray((k + 3) * d, (k + 4) * d);
      let diff = 0;
      for (let i = 0; i < d; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
      assert.ok(diff > 1e-3, `variant of image ${k} should differ from the original (max diff ${diff})`);
    }
    assert.equal((await walk(dir)).filter((f) => f.endsWith('.npy')).length, 6, 'six distinct cache entries');

    const same = await extractFeatures(backbone, variants, { tensor: 'pooled', cache, augmenter: aug });
    assert.equal(same.stats.fromCache, 3);
    assert.deepEqual(same.features, res.features!.subarray(3 * d));

    const other = await extractFeatures(backbone, variants, { tensor: 'pooled', cache, augmenter: flipper('flip-lr v2') });
    assert.equal(other.stats.computed, 3, 'a changed augmenter key misses the cache');
    assert.deepEqual(other.features, same.features, 'same pixels, same features');

    // a variant without an augmenter is a reported failure, not a crash
    const none = await extractFeatures(backbone, [{ file: originals[0].file, variant: 2 }], { tensor: 'pooled', cache: null });
    assert.equal(none.stats.failed, 1);
    assert.match(none.failures[0].message, /no augmenter/);
  });

  test('pooled features equal the spatial mean of the map features', async () => {
    const pooled = await extractFeatures(backbone, good(), { tensor: 'pooled', cache: null, batchSize: 4 });
    const map = await extractFeatures(backbone, good(), { tensor: 'map', cache: null, batchSize: 4 });
    assert.deepEqual(pooled.shape, [512]);
    for (let k = 0; k < 6; k++) {
      for (let c = 0; c < 512; c++) {
        let s = 0;
        const base = k * map.dim + c * 169;
        for (let p = 0; p < 169; p++) s += map.features![base + p];
        const want = s / 169;
        assert.ok(Math.abs(pooled.features![k * 512 + c] - want) <= 1e-5 * (1 + Math.abs(want)), `image ${k} channel ${c}`);
      }
    }
  });

  test('a backbone on its own thread (the default: batches lent, not copied) gives the features of one on the calling thread', async () => {
    const here = await Backbone.load('squeezenet1_1', { path: SYNTHETIC_SQUEEZENET, threads: 2, offThread: false });
    try {
      // batches of 4 over 7 requests: a full batch with the corrupt file's slot unused, then a part batch
      const a = await extractFeatures(here, requests, { tensor: 'map', cache: null, batchSize: 4 });
      const b = await extractFeatures(backbone, requests, { tensor: 'map', cache: null, batchSize: 4 });
      assert.deepEqual([...b.ok], [...a.ok]);
      assert.equal(b.stats.failed, 1);
      assert.deepEqual(Buffer.from(b.features!.buffer), Buffer.from(a.features!.buffer), 'bit for bit');
      // a lent batch comes back whole: the same buffer runs again
      const x = new Float32Array(2 * backbone.imageLength).fill(0.25);
      const first = await backbone.lend(x, 2, { pooled: true });
      assert.equal(x.length, 0, 'the lent array is unusable while the pass has it');
      assert.equal(first.input.length, 2 * backbone.imageLength);
      assert.ok(first.input.every((v) => v === 0.25));
      const again = await backbone.lend(first.input.subarray(0, backbone.imageLength), 1, { pooled: true });
      assert.equal(again.input.length, backbone.imageLength);
      assert.deepEqual(again.features.pooled, first.features.pooled!.subarray(0, 512));
    } finally {
      await here.release();
    }
  });

  test('cache entries are written in pieces with the bytes encodeEntry gives; a cache folder removed meanwhile is made again', async () => {
    const dir = join(root, 'cache-pieces');
    const cache = new FeatureCache(dir);
    const parts = { modelSha256: 'ab'.repeat(32), preprocess: 'p', tensor: 'pooled' as const, augment: '' };
    const data = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i) * 10);
    const key = cache.key('cd'.repeat(32), parts);
    await cache.put(key, data.subarray(100, 200), [100]);
    const [file] = (await walk(dir)).filter((f) => f.endsWith('.npy'));
    assert.deepEqual(await readFile(file), Buffer.from(encodeEntry(data.slice(100, 200), [100])));
    assert.deepEqual(await cache.get(key, 100), data.slice(100, 200));
    await rm(dir, { recursive: true, force: true });
    await cache.put(key, data.subarray(0, 100), [100]);
    assert.deepEqual(await cache.get(key, 100), data.slice(0, 100));
  });

  test('collect: false only fills the cache', async () => {
    const dir = join(root, 'cache-nocollect');
    const res = await extractFeatures(backbone, good(), { tensor: 'pooled', cache: new FeatureCache(dir), collect: false });
    assert.equal(res.features, null);
    assert.equal(res.stats.computed, 6);
    assert.equal((await walk(dir)).filter((f) => f.endsWith('.npy')).length, 6);
  });
});
