// Attacks on the feature cache and the features a head is given (issue 13, items 5 and 6):
// flipped bytes, zeros and NaN in cache entries must never reach a head, a backbone output that is
// not finite is a failure naming the file, and a cache that cannot be written does not stop work.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { Backbone } from '../src/backbone/backbone.js';
import { FeatureCache } from '../src/features/cache.js';
import { extractFeatures, type FeatureRequest } from '../src/features/extract.js';
import { parseNpy } from '../src/util/npy.js';
import { Rng } from '../src/util/rng.js';
import { SYNTHETIC_SQUEEZENET, skipNoShared } from './helpers/shared.js';

async function npyFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith('.npy')) out.push(join(e.parentPath, e.name));
  }
  return out.sort();
}

/** Offset of the array data in a .npy file (format 1.0). */
function dataOffset(bytes: Uint8Array): number {
  return 10 + new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
}

describe('feature cache and head inputs under attack', { skip: skipNoShared }, () => {
  let root = '';
  let backbone: Backbone;
  const requests: FeatureRequest[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dc-harden-features-'));
    const rng = new Rng(5);
    for (let k = 0; k < 4; k++) {
      const data = Buffer.alloc(240 * 240);
      for (let i = 0; i < data.length; i++) data[i] = Math.round(((i % 240) / 240) * 120 + rng.uniform(0, 100));
      const file = join(root, `img${k}.png`);
      await writeFile(file, await sharp(data, { raw: { width: 240, height: 240, channels: 1 } }).png().toBuffer());
      requests.push({ file });
    }
    backbone = await Backbone.load('squeezenet1_1', { path: SYNTHETIC_SQUEEZENET, threads: 2 });
  });
  after(async () => {
    await backbone?.release();
    await rm(root, { recursive: true, force: true });
  });

  test('flipped bytes, zeros and NaN in cache entries are detected and recomputed, never used', async () => {
    const dir = join(root, 'cache-corrupt');
    const cache = new FeatureCache(dir);
    const ref = await extractFeatures(backbone, requests, { tensor: 'map', cache });
    assert.equal(ref.stats.computed, 4);
    const files = await npyFiles(dir);
    assert.equal(files.length, 4);
    const entries = await Promise.all(files.map((f) => readFile(f)));
    // 1: a few bytes flipped inside the data (the file still parses as a .npy of the right shape)
    const flipped = Buffer.from(entries[0]);
    const at = dataOffset(flipped);
    for (const k of [100, 5000, 40000]) flipped[at + k] ^= 0x5a;
    await writeFile(files[0], flipped);
    // 2: the data replaced by zeros, header untouched
    const zeros = Buffer.from(entries[1]);
    zeros.fill(0, dataOffset(zeros));
    await writeFile(files[1], zeros);
    // 3: NaN everywhere, with the checksum trailer recomputed to match (as a deliberate forgery would)
    const nan = Buffer.from(entries[2]);
    const off = dataOffset(nan);
    const body = nan.subarray(0, nan.length - 8);
    const view = new DataView(nan.buffer, nan.byteOffset);
    for (let i = off; i + 4 <= body.length; i += 4) view.setFloat32(i, NaN, true);
    view.setUint32(nan.length - 4, crc32(body), true);
    await writeFile(files[2], nan);

    const again = await extractFeatures(backbone, requests, { tensor: 'map', cache });
    assert.equal(again.stats.fromCache, 1, 'only the untouched entry is used');
    assert.equal(again.stats.computed, 3);
    assert.deepEqual(again.features, ref.features, 'the features are the true ones');
    assert.ok(again.features!.every((v) => Number.isFinite(v)));
    // the damaged entries were rewritten: a third run takes everything from the cache
    const third = await extractFeatures(backbone, requests, { tensor: 'map', cache });
    assert.equal(third.stats.fromCache, 4);
    assert.deepEqual(third.features, ref.features);
    // and the entries are still .npy files NumPy (and our reader) opens, with the right shape
    const parsed = parseNpy(await readFile(files[0]));
    assert.deepEqual(parsed.shape, [512, 13, 13]);
  });

  test('a backbone output that is not finite is a failure naming the file, not a feature', async () => {
    const dir = join(root, 'cache-nan');
    const cache = new FeatureCache(dir);
    // extraction hands its batches over with lend()
    const real = backbone.lend.bind(backbone);
    const poisoned = Object.create(backbone) as Backbone;
    poisoned.lend = async (...args: Parameters<Backbone['lend']>) => {
      const out = await real(...args);
      out.features.map![7] = NaN; // first image of every batch
      out.features.map![86528 + 3] = Infinity; // second image
      return out;
    };
    const res = await extractFeatures(poisoned, requests, { tensor: 'map', cache });
    assert.deepEqual([...res.ok], [0, 0, 1, 1]);
    assert.equal(res.stats.failed, 2);
    assert.deepEqual(res.failures.map((f) => f.file), [requests[0].file, requests[1].file]);
    for (const f of res.failures) assert.match(f.message, /non-finite/);
    assert.ok(res.features!.every((v) => Number.isFinite(v)));
    assert.equal((await npyFiles(dir)).length, 2, 'nothing non-finite is cached');
  });

  test('a cache that cannot be written: one warning, every good image still gets its features', async () => {
    // a cache folder below a regular file cannot be created, even by root (unlike chmod 0555)
    const blocker = join(root, 'not-a-folder');
    await writeFile(blocker, 'x');
    const cache = new FeatureCache(join(blocker, 'cache'));
    const warnings: string[] = [];
    const res = await extractFeatures(backbone, requests, { tensor: 'map', cache, batchSize: 2, warn: (m) => warnings.push(m) });
    assert.deepEqual([...res.ok], [1, 1, 1, 1]);
    assert.equal(res.stats.failed, 0);
    assert.equal(warnings.length, 1, `warned once: ${JSON.stringify(warnings)}`);
    assert.ok(warnings[0].includes(cache.dir), warnings[0]);
    const plain = await extractFeatures(backbone, requests, { tensor: 'map', cache: null });
    assert.deepEqual(res.features, plain.features);
  });
});
