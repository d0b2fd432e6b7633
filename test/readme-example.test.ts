// The README's library example, run as written: its code block is taken from README.md, the
// example's file names are pointed at a tiny dataset made here, and `deep-covid` at the source.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { makeTinyDataset } from './helpers/tiny-dataset.js';
import { projectRoot as root, skipNoShared } from './helpers/shared.js';

const run = promisify(execFile);

test('the README library example runs and prints what it promises', { skip: skipNoShared }, async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it as a library'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'README has a ts code block under "Use it as a library"');
  const work = await mkdtemp(join(tmpdir(), 'dc-readme-'));
  try {
    const data = await makeTinyDataset({ train: [8, 8], test: [4, 4] });
    const covidDir = join(data, 'test', 'covid');
    await copyFile(join(covidDir, (await readdir(covidDir))[0]), join(work, 'chest.png'));
    await writeFile(join(work, 'notes.txt'), 'not an image');
    const script = code
      .replace("from 'deep-covid'", `from ${JSON.stringify(join(root, 'src', 'index.ts'))}`)
      .replaceAll("'my-dataset'", JSON.stringify(data));
    await writeFile(join(work, 'example.mts'), script);
    const { stdout } = await run(process.execPath, ['--import', import.meta.resolve('tsx'), join(work, 'example.mts')], { cwd: work, env: { ...process.env, DEEP_COVID_CACHE: join(work, 'cache') } });
    const lines = stdout.trim().split('\n');
    assert.match(lines[0], /^squeezenet1_1 \((imagenet|synthetic) weights\), threshold \d\.\d{3}$/);
    assert.match(lines[1], /^chest\.png: P\(COVID\) = \d\.\d{3}, (covid|non)$/);
    // the same bytes given in memory get the same probability
    assert.equal(lines[2].replace(/^upload/, 'chest.png'), lines[1]);
    assert.equal(lines[3], 'notes.txt: not-an-image');
    assert.match(lines[4], /^CAM 224x224, P\(COVID\) \d\.\d{3}$/);
    // the CAM comes from the same model: its probability is the prediction's
    assert.equal(lines[4].slice(-5), /= (\d\.\d{3})/.exec(lines[1])![1]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
