import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelError, ModelNotFoundError, UsageError } from '../src/errors.js';
import { downloadVerified } from '../src/backbone/download.js';
import { locateModel } from '../src/backbone/locate.js';
import { BACKBONES, type BackboneSpec } from '../src/backbone/registry.js';
import { DEV_SHARED } from '../src/util/paths.js';
import { SYNTHETIC_SQUEEZENET, skipNoShared } from './helpers/shared.js';

describe('locateModel and downloadVerified', { skip: skipNoShared }, () => {
  let root = '';
  let server: Server;
  let base = '';
  let modelBytes: Buffer;
  let modelSha = '';

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dc-locate-'));
    modelBytes = readFileSync(SYNTHETIC_SQUEEZENET);
    modelSha = createHash('sha256').update(modelBytes).digest('hex');
    server = createServer((req, res) => {
      if (req.url === '/model.onnx') {
        res.writeHead(200, { 'content-length': String(modelBytes.length) });
        res.end(modelBytes);
      } else {
        res.writeHead(404);
        res.end('not found');
      }
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((ok) => server.close(() => ok()));
    await rm(root, { recursive: true, force: true });
  });

  /** A fresh folder holding a symlink `squeezenet1_1.onnx` to the synthetic model. */
  async function dirWithModel(name: string): Promise<string> {
    const d = join(root, name);
    await mkdir(d, { recursive: true });
    await symlink(SYNTHETIC_SQUEEZENET, join(d, 'squeezenet1_1.onnx'));
    return d;
  }

  test('an explicit path wins over every folder', async () => {
    const modelsDir = await dirWithModel('explicit-models');
    const located = await locateModel('squeezenet1_1', { path: SYNTHETIC_SQUEEZENET, modelsDir });
    assert.equal(located.path, SYNTHETIC_SQUEEZENET);
    assert.equal(located.sha256, modelSha);
    assert.equal(located.provenance?.weights, 'synthetic');
  });

  test('a missing explicit path is ModelNotFoundError naming it', async () => {
    const p = join(root, 'nope.onnx');
    await assert.rejects(locateModel('squeezenet1_1', { path: p }), (e: unknown) => e instanceof ModelNotFoundError && e.message.includes(p));
  });

  test('modelsDir before cacheDir before the dev fallback', async () => {
    const modelsDir = await dirWithModel('order-models');
    const cacheDir = await dirWithModel('order-cache');
    const a = await locateModel('squeezenet1_1', { modelsDir, cacheDir, download: false });
    assert.equal(a.path, join(modelsDir, 'squeezenet1_1.onnx'));
    const empty = join(root, 'order-empty');
    await mkdir(empty, { recursive: true });
    const b = await locateModel('squeezenet1_1', { modelsDir: empty, cacheDir, download: false });
    assert.equal(b.path, join(cacheDir, 'squeezenet1_1.onnx'));
    const c = await locateModel('squeezenet1_1', { modelsDir: empty, cacheDir: empty, download: false });
    assert.equal(c.path, join(DEV_SHARED, 'models', 'squeezenet1_1.onnx'));
    assert.equal(c.provenance?.weights, 'imagenet');
  });

  test('a miss lists every searched path and how to get the file', async () => {
    const modelsDir = join(root, 'miss-models');
    const cacheDir = join(root, 'miss-cache');
    let caught: unknown;
    try {
      await locateModel('resnet18', { modelsDir, cacheDir, devFallback: false, download: false });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof ModelNotFoundError);
    for (const dir of [modelsDir, cacheDir]) {
      for (const f of BACKBONES.resnet18.files) assert.ok(caught.message.includes(join(dir, f)), `should list ${join(dir, f)}:\n${caught.message}`);
    }
    assert.match(caught.message, /export-torchvision/);
    assert.match(caught.message, /path of an ONNX file/);
  });

  test('an unknown backbone name is a UsageError listing the known ones', async () => {
    await assert.rejects(locateModel('nope'), (e: unknown) => e instanceof UsageError && /resnet18/.test(e.message) && /mobilenet_v2/.test(e.message));
  });

  test('downloadVerified: correct sha256 → the file appears, byte-identical', async () => {
    const dest = join(root, 'dl-ok', 'sub', 'model.onnx');
    let lastProgress = 0;
    await downloadVerified(`${base}/model.onnx`, modelSha, dest, (got) => (lastProgress = got));
    assert.ok(readFileSync(dest).equals(modelBytes));
    assert.equal(lastProgress, modelBytes.length);
    assert.deepEqual(await readdir(join(root, 'dl-ok', 'sub')), ['model.onnx']);
  });

  test('downloadVerified: wrong sha256 → ModelError, and neither the file nor a .part file is left', async () => {
    const dir = join(root, 'dl-bad');
    const dest = join(dir, 'model.onnx');
    await assert.rejects(downloadVerified(`${base}/model.onnx`, '0'.repeat(64), dest), (e: unknown) => e instanceof ModelError && /sha256/.test(e.message));
    assert.equal(existsSync(dest), false);
    assert.deepEqual(await readdir(dir), []);
  });

  test('downloadVerified: HTTP 404 → ModelError', async () => {
    const dir = join(root, 'dl-404');
    await assert.rejects(downloadVerified(`${base}/missing.onnx`, modelSha, join(dir, 'm.onnx')), (e: unknown) => e instanceof ModelError && /404/.test(e.message));
    assert.deepEqual(await readdir(dir), []);
  });

  test('locateModel downloads into cacheDir when the registry has a URL and nothing is on disk', async () => {
    let spec: BackboneSpec = { ...BACKBONES.squeezenet1_1, name: 'testnet', files: ['testnet.onnx'], download: { url: `${base}/model.onnx`, sha256: modelSha } };
    {
      const cacheDir = join(root, 'dl-cache');
      const modelsDir = join(root, 'dl-models-empty');
      const a = await locateModel('testnet', { modelsDir, cacheDir, devFallback: false, spec });
      assert.equal(a.path, join(cacheDir, 'testnet.onnx'));
      assert.equal(a.sha256, modelSha);
      assert.ok(readFileSync(a.path).equals(modelBytes));
      // a second call finds the cached file (the server would now 404 for a different URL)
      spec = { ...spec, download: { url: `${base}/gone.onnx`, sha256: modelSha } };
      const b = await locateModel('testnet', { modelsDir, cacheDir, devFallback: false, spec });
      assert.equal(b.path, a.path);
      // download: false turns the branch off
      await assert.rejects(locateModel('testnet', { modelsDir, cacheDir: join(root, 'dl-cache-2'), devFallback: false, download: false, spec }), ModelNotFoundError);
      // a bad checksum from the registry leaves nothing in the cache
      spec = { ...spec, download: { url: `${base}/model.onnx`, sha256: 'f'.repeat(64) } };
      const cache3 = join(root, 'dl-cache-3');
      await assert.rejects(locateModel('testnet', { modelsDir, cacheDir: cache3, devFallback: false, spec }), ModelError);
      assert.deepEqual(await readdir(cache3), []);
    }
    assert.equal('testnet' in BACKBONES, false, 'the readonly registry is not changed by a custom spec');
  });
});
