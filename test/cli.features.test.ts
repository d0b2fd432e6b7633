import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { main, type CliIO } from '../src/cli/main.js';
import { skipNoShared } from './helpers/shared.js';

/** An io that records what the CLI prints. */
function capture(): CliIO & { outText: () => string; errText: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return { out: (s) => out.push(s), err: (s) => err.push(s), outText: () => out.join('\n'), errText: () => err.join('\n') };
}

describe('deep-covid features', { skip: skipNoShared }, () => {
  let root = '';
  let data = '';
  let cache = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dc-cli-'));
    data = join(root, 'data');
    cache = join(root, 'cache');
    let k = 0;
    for (const split of ['train', 'test']) {
      for (const cls of ['covid', 'non']) {
        await mkdir(join(data, split, cls), { recursive: true });
        for (let j = 0; j < 2; j++, k++) {
          const px = Buffer.alloc(260 * 256);
          for (let i = 0; i < px.length; i++) px[i] = (i * (k + 3) + (i >> 8) * 7) % 256;
          await writeFile(join(data, split, cls, `img${k}.png`), await sharp(px, { raw: { width: 260, height: 256, channels: 1 } }).png().toBuffer());
        }
      }
    }
    await writeFile(join(data, 'test', 'non', 'broken.png'), 'not an image');
  });
  after(async () => {
    process.exitCode = undefined;
    await rm(root, { recursive: true, force: true });
  });

  test('fills the cache, reports counts; a second run is all from cache', async () => {
    const io = capture();
    const code = await main(['node', 'deep-covid', 'features', '--data', data, '--cache', cache, '--threads', '2', '-q'], io);
    assert.equal(code, 0, io.errText());
    const out = io.outText();
    assert.match(out, /squeezenet1_1 \(imagenet weights/);
    assert.match(out, /map features \[512x13x13\]/);
    assert.match(out, /9 images: 8 computed, 0 from cache, 1 failed/);
    assert.match(out, /skipped .*broken\.png: not an image/);

    const io2 = capture();
    assert.equal(await main(['node', 'deep-covid', 'features', '--data', data, '--cache', cache, '--threads', '2', '-q'], io2), 0);
    assert.match(io2.outText(), /9 images: 0 computed, 8 from cache, 1 failed/);

    const io3 = capture();
    assert.equal(await main(['node', 'deep-covid', 'features', '--data', data, '--cache', cache, '--split', 'train', '--tensor', 'pooled', '-q'], io3), 0);
    assert.match(io3.outText(), /pooled features \[512\]/);
    assert.match(io3.outText(), /4 images: 4 computed, 0 from cache, 0 failed/);
  });

  test('an unknown backbone is a usage error (exit 2) listing the backbones', async () => {
    const io = capture();
    const code = await main(['node', 'deep-covid', 'features', '--data', data, '--cache', cache, '--backbone', 'nope', '-q'], io);
    assert.equal(code, 2);
    for (const name of ['resnet18', 'resnet50', 'squeezenet1_1', 'densenet121', 'mobilenet_v2']) assert.ok(io.errText().includes(name), io.errText());
    assert.match(io.errText(), /unknown backbone "nope"/);
  });

  test('a missing dataset folder is an error (exit 1) naming it', async () => {
    const io = capture();
    const missing = join(root, 'nowhere');
    assert.equal(await main(['node', 'deep-covid', 'features', '--data', missing, '--cache', cache, '-q'], io), 1);
    assert.ok(io.errText().includes(missing));
  });

  test('bad --batch and a missing --data are usage errors (exit 2)', async () => {
    const io = capture();
    assert.equal(await main(['node', 'deep-covid', 'features', '--data', data, '--cache', cache, '--batch', '0', '-q'], io), 2);
    assert.match(io.errText(), /--batch must be a positive whole number/);
    const io2 = capture();
    assert.equal(await main(['node', 'deep-covid', 'features'], io2), 2);
    assert.match(io2.errText(), /--data/);
  });
});

test('features --help shows the options and examples', async () => {
  const io = capture();
  const code = await main(['node', 'deep-covid', 'features', '--help'], io);
  assert.equal(code, 0);
  assert.match(io.outText(), /Examples/);
  assert.match(io.outText(), /--backbone <name>/);
  assert.match(io.outText(), /--max-pixels/);
});
